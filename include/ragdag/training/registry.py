"""The model registry: one MongoDB record per model, its lifecycle, and who moved it between stages.

The one owner of the ``model_registry`` collection, its record shape, the status values (how its
training went: queued → running → succeeded | failed) and the stages (how it is used: candidate,
production, archived; one production model at most). The CLI (``ragdag models``), the Airflow UI
plugin and the ``train_model`` DAG all go through the functions here.

Records are always written whole (``replace_one``): the embedded MongoDB stores a datetime given
to ``$set`` as a string.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ragdag.observability.audit import AuditAction, record_audit
from ragdag.settings import Settings
from ragdag.stores.mongo import mongo_database

if TYPE_CHECKING:
    from pymongo.database import Database

MODEL_REGISTRY = "model_registry"


class ModelStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ModelStage(StrEnum):
    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"


def _now() -> datetime:
    return datetime.now(UTC)


class StageChange(BaseModel):
    stage: ModelStage
    at: datetime = Field(default_factory=_now)
    actor: str
    reason: str


class ModelRecord(BaseModel):
    model_id: str  # named after its inputs: the same dataset + hyperparameters is the same model
    job_name: str  # the training job of the latest attempt (SageMaker job names are unique)
    attempts: int = 1
    status: ModelStatus = ModelStatus.QUEUED
    error: str | None = None
    stage: ModelStage | None = None  # set once training succeeded
    dataset_version: str
    dataset_manifest_uri: str
    dataset_manifest_sha256: str
    base_model: str  # hub id / path, or "" for the tiny default
    adapter: bool  # LoRA adapter (peft) or full weights
    backend: str
    hyperparameters: dict[str, str]
    code_version: str
    metrics: dict[str, Any] = Field(default_factory=dict)  # the training job's metrics.json
    evaluation: dict[str, Any] | None = None  # base / trained / production on the same test split
    promotion: dict[str, Any] | None = None  # the automatic decision and its reason
    stage_history: list[StageChange] = Field(default_factory=list)
    artifact_uri: str
    card_uri: str | None = None
    metrics_uri: str | None = None
    evaluation_uri: str | None = None
    trained_by_run_id: str
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class RegistryError(ValueError):
    """A registry action that cannot be done as asked; the message says why."""


# --- database-level functions (the DAG's service code holds a database already) ------------------


def find_model(db: Database, model_id: str) -> ModelRecord | None:
    doc = db[MODEL_REGISTRY].find_one({"_id": model_id})
    return ModelRecord.model_validate(doc) if doc else None


def save_model(db: Database, record: ModelRecord) -> ModelRecord:
    record = record.model_copy(update={"updated_at": _now()})
    db[MODEL_REGISTRY].replace_one(
        {"_id": record.model_id}, {"_id": record.model_id, **record.model_dump(mode="python")}, upsert=True
    )
    return record


def find_by_job_name(db: Database, job_name: str) -> ModelRecord | None:
    doc = db[MODEL_REGISTRY].find_one({"job_name": job_name})
    return ModelRecord.model_validate(doc) if doc else None


def production_model(db: Database) -> ModelRecord | None:
    doc = db[MODEL_REGISTRY].find_one({"stage": ModelStage.PRODUCTION.value})
    return ModelRecord.model_validate(doc) if doc else None


def set_stage(db: Database, record: ModelRecord, stage: ModelStage, *, actor: str, reason: str) -> ModelRecord:
    """Move a model to ``stage``; promoting archives the production model it replaces."""
    if stage is ModelStage.PRODUCTION:
        if record.status is not ModelStatus.SUCCEEDED:
            raise RegistryError(
                f"model {record.model_id} is {record.status.value}: only a succeeded model can be promoted"
            )
        current = production_model(db)
        if current is not None and current.model_id != record.model_id:
            save_model(db, _with_stage(current, ModelStage.ARCHIVED, actor, f"replaced by {record.model_id}: {reason}"))
    return save_model(db, _with_stage(record, stage, actor, reason))


def _with_stage(record: ModelRecord, stage: ModelStage, actor: str, reason: str) -> ModelRecord:
    history = [*record.stage_history, StageChange(stage=stage, actor=actor, reason=reason)]
    return record.model_copy(update={"stage": stage, "stage_history": history})


# --- service functions (CLI and UI plugin) ----------------------------------------------------------


def list_models(
    settings: Settings, *, stage: ModelStage | str | None = None, status: ModelStatus | str | None = None
) -> list[ModelRecord]:
    """Newest first."""
    query: dict[str, Any] = {}
    if stage:
        query["stage"] = ModelStage(stage).value
    if status:
        query["status"] = ModelStatus(status).value
    with mongo_database(settings) as db:
        docs = list(db[MODEL_REGISTRY].find(query))
    records = [ModelRecord.model_validate(d) for d in docs]
    return sorted(records, key=lambda r: (r.created_at, r.model_id), reverse=True)


def get_model(settings: Settings, model_id: str) -> ModelRecord | None:
    with mongo_database(settings) as db:
        return find_model(db, model_id)


def _require(db: Database, model_id: str) -> ModelRecord:
    record = find_model(db, model_id)
    if record is None:
        raise RegistryError(f"no model {model_id!r} in the registry (see `ragdag models list`)")
    return record


def _check_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise RegistryError("say why (a reason is recorded in the audit trail)")
    return reason.strip()


def promote_model(settings: Settings, model_id: str, actor: str | None = None, reason: str = "") -> ModelRecord:
    """Make a succeeded model the production model by hand (the current one is archived)."""
    reason = _check_reason(reason)
    with mongo_database(settings) as db:
        record = _require(db, model_id)
        if record.stage is ModelStage.PRODUCTION:
            raise RegistryError(f"model {model_id} is already the production model")
        if record.status is not ModelStatus.SUCCEEDED:
            raise RegistryError(f"model {model_id} is {record.status.value}: only a succeeded model can be promoted")
        previous = production_model(db)
        event = record_audit(
            db,
            AuditAction.MODEL_PROMOTE,
            model_id,
            actor=actor,
            reason=reason,
            details={
                "from_stage": record.stage.value if record.stage else None,
                "replaced": previous.model_id if previous else None,
            },
        )
        return set_stage(db, record, ModelStage.PRODUCTION, actor=event.actor, reason=reason)


def archive_model(settings: Settings, model_id: str, actor: str | None = None, reason: str = "") -> ModelRecord:
    """Retire a model (archiving the production model leaves none in production)."""
    reason = _check_reason(reason)
    with mongo_database(settings) as db:
        record = _require(db, model_id)
        if record.stage is ModelStage.ARCHIVED:
            raise RegistryError(f"model {model_id} is already archived")
        event = record_audit(
            db,
            AuditAction.MODEL_ARCHIVE,
            model_id,
            actor=actor,
            reason=reason,
            details={"from_stage": record.stage.value if record.stage else None},
        )
        return set_stage(db, record, ModelStage.ARCHIVED, actor=event.actor, reason=reason)
