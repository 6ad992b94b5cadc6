"""The model registry: one MongoDB record per model, its lifecycle, and who moved it between stages.

The one owner of the ``model_registry`` collection, its record shape, the status values (how its
training went: queued → running → succeeded | failed) and the stages (how it is used: candidate,
production, archived; one production model at most). The CLI (``ragdag models``), the Airflow UI
plugin and the ``train_model`` DAG all go through the functions here.

Records are always written whole (``replace_one``): the embedded MongoDB stores a datetime given
to ``$set`` as a string.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ragdag.errors import PermanentError
from ragdag.observability.audit import AuditAction, record_audit
from ragdag.settings import Settings
from ragdag.stores.mongo import MODEL_REGISTRY, mongo_database

if TYPE_CHECKING:
    from pymongo.database import Database


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


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a live process (ticks since boot, ``/proc/<pid>/stat`` field 22), so
    that a reused pid is not taken for the process that ran the job; None if there is no such
    process or it has exited (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc here: a signal 0 tells whether the pid lives at all
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    state, *fields = stat.rsplit(")", 1)[1].split()
    return None if state in ("Z", "X") else fields[18]


class TrainingRunner(BaseModel):
    """The process a ``running`` job depends on (the task process of the local backend)."""

    host: str
    pid: int
    process_start: str | None = None  # see `_process_start`
    since: datetime = Field(default_factory=_now)

    @classmethod
    def this_process(cls) -> TrainingRunner:
        return cls(host=socket.gethostname(), pid=os.getpid(), process_start=_process_start(os.getpid()))

    def same_process(self, other: TrainingRunner) -> bool:
        return (self.host, self.pid, self.process_start) == (other.host, other.pid, other.process_start)

    def gone(self, *, now: datetime, deadline: timedelta) -> str | None:
        """Why the job can no longer finish (its process is gone, or it ran past its task's time
        limit), or None while it may still be running."""
        since = self.since if self.since.tzinfo else self.since.replace(tzinfo=UTC)
        if now - since > deadline:
            return (
                f"its task (pid {self.pid} on {self.host}, running since {since.isoformat()}) ran past "
                f"the task's time limit of {deadline.total_seconds():.0f} s without recording a result"
            )
        if self.host == socket.gethostname():
            start = _process_start(self.pid)
            if start is None or (self.process_start and start and start != self.process_start):
                return f"its task process (pid {self.pid} on {self.host}) is gone without recording a result"
        return None


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
    runner: TrainingRunner | None = None  # while running on the local backend
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class RegistryError(PermanentError, ValueError):
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


def fail_lost_jobs(db: Database, *, deadline: timedelta, now: datetime | None = None) -> list[ModelRecord]:
    """Mark ``failed``, with the reason, every ``running`` record whose task is gone: a task
    process SIGKILLed (or its machine lost) never reaches its own ``except``. Called by the next
    attempt and the next run; records without a runner (a SageMaker job) are left to their job."""
    now = now or _now()
    failed = []
    for doc in db[MODEL_REGISTRY].find({"status": ModelStatus.RUNNING.value}):
        record = ModelRecord.model_validate(doc)
        reason = record.runner.gone(now=now, deadline=deadline) if record.runner else None
        if reason:
            failed.append(save_model(db, _lost(record, reason)))
    return failed


def _lost(record: ModelRecord, reason: str) -> ModelRecord:
    error = f"training job {record.job_name} (attempt {record.attempts}) was lost: {reason}"
    return record.model_copy(update={"status": ModelStatus.FAILED, "error": error, "runner": None})


def take_over(db: Database, record: ModelRecord, runner: TrainingRunner, *, deadline: timedelta) -> ModelRecord:
    """Record ``runner`` running the job. An earlier attempt still marked ``running`` is failed
    first, with the reason (Airflow starts a new attempt only once the last one is over); the
    reason stays the record's ``error`` until this attempt ends."""
    lost = {r.model_id: r.error for r in fail_lost_jobs(db, deadline=deadline)}
    current = find_model(db, record.model_id) or record
    if current.status is ModelStatus.RUNNING and current.runner is not None and not current.runner.same_process(runner):
        current = save_model(db, _lost(current, f"a new attempt started on {runner.host} (pid {runner.pid})"))
        lost[current.model_id] = current.error
    update = {"status": ModelStatus.RUNNING, "job_name": record.job_name, "runner": runner}
    return save_model(db, current.model_copy(update={**update, "error": lost.get(current.model_id)}))


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
