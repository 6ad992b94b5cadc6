"""The run record: one shape, one writer, for every stage of the chain (the ``runs`` collection).

Each attempt of a DAG task is one record: who started it (schedule, an Asset event, a person over
REST / UI), with which conf, code and settings, when, how it ended (``failed`` keeps the error),
what it counted in and out, which Asset events it consumed and which it emitted. A stage adds its
own report (validation counts, the embedding report, the dataset manifest, drift) as ``details``
through :func:`record_stage_report`; nothing else writes to ``runs``.

Outside Airflow (tests, benchmarks, ``crawl_targets``) a stage report becomes a record of its own,
without DAG or task. Light to import: :mod:`ragdag.dag_wiring` builds on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from ragdag.stages import Stage
from ragdag.stores.mongo import RUNS

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.settings import Settings

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


class TriggerKind(StrEnum):
    SCHEDULE = "schedule"
    ASSET = "asset"
    MANUAL = "manual"  # the REST API, the UI or the CLI: Airflow does not tell tasks which one
    BACKFILL = "backfill"
    DIRECT = "direct"  # a stage function called outside Airflow


# DagRunType value -> our kind; an unknown future type is kept as manual with its run_type.
_TRIGGER_OF_RUN_TYPE = {
    "scheduled": TriggerKind.SCHEDULE,
    "asset_triggered": TriggerKind.ASSET,
    "asset_materialization": TriggerKind.ASSET,
    "manual": TriggerKind.MANUAL,
    "operator_triggered": TriggerKind.MANUAL,
    "backfill": TriggerKind.BACKFILL,
}


class Trigger(BaseModel):
    kind: TriggerKind
    run_type: str | None = None  # Airflow's DagRunType, as it said
    user: str | None = None  # triggering_user_name: the Airflow user behind a REST / UI run


class CodeVersion(BaseModel):
    package_version: str
    package_hash: str  # sha256 of the package's .py files: tells apart two builds of one version
    git_sha: str | None = None
    git_dirty: bool | None = None


class AssetEventRecord(BaseModel):
    asset_uri: str
    asset_name: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_task_id: str | None = None
    timestamp: datetime | None = None


class RunRecord(BaseModel):
    id: str
    stage: Stage | str  # a chain stage, or the DAG id of a helper DAG's task
    run_id: str | None
    dag_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    trigger: Trigger
    conf: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float | None = None
    status: RunStatus = RunStatus.RUNNING
    error: str | None = None
    code_version: CodeVersion
    settings_hash: str
    counts_in: dict[str, int] = Field(default_factory=dict)
    counts_out: dict[str, int] = Field(default_factory=dict)
    assets_consumed: list[AssetEventRecord] = Field(default_factory=list)
    assets_emitted: list[AssetEventRecord] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)  # the stage's own report
    log_url: str | None = None

    @field_validator("started_at", "finished_at")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        # MongoDB keeps UTC; a client that is not tz_aware (an Airflow connection's) reads it naive.
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

    def to_document(self) -> dict[str, Any]:
        document = json.loads(self.model_dump_json(exclude={"id"}))
        # Real dates for the times (sorting, TTL indexes); everything else as JSON values.
        return {"_id": self.id, **document, "started_at": self.started_at, "finished_at": self.finished_at}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RunRecord:
        return cls.model_validate({**document, "id": document["_id"]})


# --- code and settings versions ------------------------------------------------------------------


@lru_cache(maxsize=1)
def code_version() -> CodeVersion:
    from ragdag import __version__

    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    sha, dirty = _git_state(PACKAGE_DIR)
    return CodeVersion(package_version=__version__, package_hash=digest.hexdigest()[:16], git_sha=sha, git_dirty=dirty)


def _git_state(folder: Path) -> tuple[str | None, bool | None]:
    """HEAD and whether the package differs from it, where the code runs from a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=folder, capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None  # an installed image: the package hash identifies the code
    return sha or None, bool(status.strip())


def settings_hash(settings: Settings) -> str:
    canonical = json.dumps(json.loads(settings.model_dump_json()), sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# --- building a record from the Airflow context --------------------------------------------------


def trigger_of(dag_run: Any) -> Trigger:
    if dag_run is None:
        return Trigger(kind=TriggerKind.DIRECT)
    run_type = str(getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", None)))
    kind = _TRIGGER_OF_RUN_TYPE.get(run_type, TriggerKind.MANUAL)
    return Trigger(kind=kind, run_type=run_type, user=getattr(dag_run, "triggering_user_name", None))


def consumed_events(dag_run: Any) -> list[AssetEventRecord]:
    events = []
    for event in getattr(dag_run, "consumed_asset_events", None) or []:
        events.append(
            AssetEventRecord(
                asset_uri=event.asset.uri,
                asset_name=event.asset.name,
                extra=dict(event.extra or {}),
                source_dag_id=event.source_dag_id,
                source_run_id=event.source_run_id,
                source_task_id=event.source_task_id,
                timestamp=event.timestamp,
            )
        )
    return events


def new_record(stage: Stage | str, context: Mapping[str, Any] | None, settings: Settings) -> RunRecord:
    """A ``running`` record for this task attempt (or for a direct call when ``context`` is None)."""
    now = datetime.now(UTC)
    if not context:
        return RunRecord(
            id=f"{stage}/direct/{uuid.uuid4().hex}",
            stage=stage,
            run_id=None,
            trigger=Trigger(kind=TriggerKind.DIRECT),
            started_at=now,
            code_version=code_version(),
            settings_hash=settings_hash(settings),
        )
    ti, dag_run = context.get("ti"), context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
    task_id = getattr(ti, "task_id", None)
    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", ""))
    try:
        log_url = ti.log_url if ti is not None else None
    except Exception:  # noqa: BLE001 - the URL needs Airflow's config; a record is worth more
        log_url = None
    return RunRecord(
        id=f"{dag_id}/{run_id}/{task_id}/{map_index if map_index is not None else -1}/{try_number or 0}",
        stage=stage,
        run_id=run_id,
        dag_id=dag_id,
        task_id=task_id,
        map_index=map_index,
        try_number=try_number,
        trigger=trigger_of(dag_run),
        conf=dict(getattr(dag_run, "conf", None) or {}),
        started_at=now,
        code_version=code_version(),
        settings_hash=settings_hash(settings),
        assets_consumed=consumed_events(dag_run),
        log_url=log_url,
    )


# --- the one writer ------------------------------------------------------------------------------


def save_record(db: Database, record: RunRecord) -> None:
    """Write the whole record (a replace, never ``$set``: the embedded server keeps types that way)."""
    document = record.to_document()
    if db[RUNS].find_one({"_id": record.id}, {"_id": 1}) is None:
        db[RUNS].insert_one(document)
    else:
        db[RUNS].replace_one({"_id": record.id}, document)


# The record of the task attempt running in this process: Airflow runs one task per task-runner
# process (dag.test() one after the other), and its callbacks run in that process.
_active: RunRecord | None = None


def record_stage_report(
    db: Database,
    stage: Stage | str,
    run_id: str | None,
    details: Mapping[str, Any],
    *,
    settings: Settings | None = None,
    status: RunStatus | None = None,
    error: str | None = None,
) -> RunRecord:
    """Keep a stage's own report in its run record (JSON-ready ``details``).

    Inside a recorded task (:func:`task_run`) of that stage and run, the report joins the task's
    record; elsewhere it is a record of its own, finished now, ``success`` unless told otherwise.
    """
    record = _active
    # The record itself says which stage, run and record this is.
    kept = {k: v for k, v in details.items() if k not in ("_id", "stage", "run_id")}
    payload = json.loads(json.dumps(kept, default=str))
    if record is not None and record.stage == stage and (run_id is None or record.run_id == run_id):
        record.details.update(payload)
        if error:
            record.error = error
        save_record(db, record)
        return record
    if settings is None:
        from ragdag.settings import get_settings

        settings = get_settings()
    record = new_record(stage, None, settings)
    record.run_id = run_id
    record.details = payload
    record.error = error
    _finish(record, status or (RunStatus.FAILED if error else RunStatus.SUCCESS))
    save_record(db, record)
    return record


def _finish(record: RunRecord, status: RunStatus) -> None:
    record.status = status
    record.finished_at = datetime.now(UTC)
    record.seconds = round((record.finished_at - record.started_at).total_seconds(), 3)


def start_task_record(stage: Stage | str, context: Mapping[str, Any], settings: Settings) -> RunRecord:
    """A ``running`` record for this task attempt, written at once (a killed worker leaves it so)."""
    global _active
    record = new_record(stage, context, settings)
    _write_safely(settings, record)
    _audit_override(settings, record, context)
    _active = record
    return record


def _audit_override(settings: Settings, record: RunRecord, context: Mapping[str, Any]) -> None:
    """A run started by a person (REST API, UI, CLI) with a ``conf`` overrides the defaults: the
    audit trail keeps who, when, the conf and why (the run's note), once per run."""
    if record.trigger.kind is not TriggerKind.MANUAL or not record.conf or not record.run_id:
        return
    from ragdag.observability.audit import AuditAction, record_audit
    from ragdag.stores.mongo import mongo_database

    note = getattr(context.get("dag_run"), "note", None)
    try:
        with mongo_database(settings) as db:
            record_audit(
                db,
                AuditAction.RUN_OVERRIDE,
                f"{record.dag_id}/{record.run_id}",
                actor=f"airflow:{record.trigger.user}" if record.trigger.user else None,
                reason=str(note) if note else "run triggered with a conf (no note given)",
                details={"dag_id": record.dag_id, "run_id": record.run_id, "conf": record.conf},
                event_id=f"{AuditAction.RUN_OVERRIDE.value}/{record.dag_id}/{record.run_id}",
            )
    except Exception:  # noqa: BLE001 - an audit write must not fail the run; the run record has the conf
        log.exception("could not record the conf override of %s %s", record.dag_id, record.run_id)


def finish_task_record(
    stage: Stage | str,
    context: Mapping[str, Any],
    settings: Settings,
    status: RunStatus,
    *,
    error: BaseException | str | None = None,
    emitted: list[AssetEventRecord] | None = None,
    counts_in: Mapping[str, int] | None = None,
    counts_out: Mapping[str, int] | None = None,
) -> RunRecord:
    """Finish this attempt's record (the one started here, or a new one when none was)."""
    global _active
    record = _active
    fresh = new_record(stage, context, settings)
    if record is None or record.id != fresh.id:
        record = fresh
    if error is not None:
        record.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    record.assets_emitted = list(emitted or record.assets_emitted)
    record.counts_in.update(counts_in or {})
    record.counts_out.update(counts_out or {})
    _finish(record, status)
    _write_safely(settings, record)
    _active = None
    return record


@contextmanager
def task_run(stage: Stage | str, context: Mapping[str, Any], settings: Settings) -> Iterator[RunRecord]:
    """The same record around a block of code (scripts, tests): ``failed`` with the error if it raises."""
    record = start_task_record(stage, context, settings)
    try:
        yield record
    except BaseException as error:
        skipped = type(error).__name__ in {"AirflowSkipException", "DownstreamTasksSkipped"}
        finish_task_record(
            stage,
            context,
            settings,
            RunStatus.SKIPPED if skipped else RunStatus.FAILED,
            error=None if skipped else error,
        )
        raise
    finish_task_record(stage, context, settings, RunStatus.SUCCESS)


def _write_safely(settings: Settings, record: RunRecord) -> None:
    # A record that cannot be written must not turn a good run into a failed one: log it whole.
    from ragdag.stores.mongo import mongo_database

    try:
        with mongo_database(settings) as db:
            save_record(db, record)
    except Exception:  # noqa: BLE001
        log.exception("could not write run record %s: %s", record.id, record.model_dump_json())


# --- reading -------------------------------------------------------------------------------------


def list_runs(
    db: Database, *, stage: Stage | str | None = None, run_id: str | None = None, limit: int | None = None
) -> list[RunRecord]:
    """Newest first."""
    query: dict[str, Any] = {}
    if stage:
        query["stage"] = stage
    if run_id:
        query["run_id"] = run_id
    cursor = db[RUNS].find(query).sort("started_at", -1)
    if limit:
        cursor = cursor.limit(limit)
    return [RunRecord.from_document(d) for d in cursor]


def stage_reports(db: Database, stage: Stage | str, run_id: str) -> list[dict[str, Any]]:
    """The ``details`` of every record of ``stage`` in ``run_id`` (all attempts), oldest first."""
    docs = db[RUNS].find({"stage": stage, "run_id": run_id}).sort("started_at", 1)
    return [dict(d.get("details") or {}) for d in docs]


def latest_stage_report(
    db: Database, stage: Stage | str, where: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The newest ``details`` of ``stage`` whose fields match ``where`` (MongoDB conditions allowed)."""
    query: dict[str, Any] = {"stage": stage, **{f"details.{k}": v for k, v in (where or {}).items()}}
    doc = db[RUNS].find_one(query, sort=[("started_at", -1)])
    return dict(doc["details"]) if doc else None


def failed_attempt(db: Database, dag_id: str, run_id: str, task_id: str) -> RunRecord | None:
    """The newest failed attempt of a task in a run (what a failure alert reports)."""
    doc = db[RUNS].find_one(
        {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "status": RunStatus.FAILED.value},
        sort=[("started_at", -1)],
    )
    return RunRecord.from_document(doc) if doc else None
