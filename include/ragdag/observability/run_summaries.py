"""One line per DAG run, from its task records (:mod:`ragdag.observability.run_records`): what the platform's
overview shows of each stage's latest run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.observability.run_records import RunRecord, RunStatus, list_runs

if TYPE_CHECKING:
    from pymongo.database import Database

# Newest task records read to find each DAG's latest run.
OVERVIEW_SCAN = 500


class RunSummary(BaseModel):
    dag_id: str
    run_id: str
    status: RunStatus  # running while a task runs, failed when a task's last attempt failed
    started_at: datetime
    finished_at: datetime | None  # None while a task runs
    tasks: int  # task instances (each index of a mapped task counts once)
    failed_tasks: list[str]  # "task" or "task[index]", by their last attempt
    counts_out: dict[str, int]  # the last task that reports counts, summed over its indexes
    details: dict[str, Any]  # the stage's own report: the newest record that has one


def _label(record: RunRecord) -> str:
    task = record.task_id or record.stage
    return task if record.map_index in (None, -1) else f"{task}[{record.map_index}]"


def _last_attempts(records: Iterable[RunRecord]) -> list[RunRecord]:
    latest: dict[tuple[str | None, int | None], RunRecord] = {}
    for record in records:
        key = (record.task_id, record.map_index)
        rank = (record.try_number or 0, record.started_at)
        kept = latest.get(key)
        if kept is None or rank > (kept.try_number or 0, kept.started_at):
            latest[key] = record
    return sorted(latest.values(), key=lambda r: r.started_at)


def _status(attempts: Sequence[RunRecord]) -> RunStatus:
    statuses = {record.status for record in attempts}
    for status in (RunStatus.RUNNING, RunStatus.FAILED):
        if status in statuses:
            return status
    return RunStatus.SKIPPED if statuses == {RunStatus.SKIPPED} else RunStatus.SUCCESS


def _counts_out(attempts: Sequence[RunRecord]) -> dict[str, int]:
    reporting = [record for record in attempts if record.counts_out]
    if not reporting:
        return {}
    last_task = reporting[-1].task_id
    total: dict[str, int] = {}
    for record in reporting:
        if record.task_id == last_task:
            for name, value in record.counts_out.items():
                total[name] = total.get(name, 0) + value
    return total


def summarize_run(records: Sequence[RunRecord]) -> RunSummary:
    """The run of these task records (one DAG run's, any attempts)."""
    attempts = _last_attempts(records)
    status = _status(attempts)
    finished = [r.finished_at for r in attempts if r.finished_at is not None]
    with_details = [r for r in attempts if r.details]
    return RunSummary(
        dag_id=attempts[0].dag_id or attempts[0].stage,
        run_id=attempts[0].run_id or "",
        status=status,
        started_at=min(r.started_at for r in attempts),
        finished_at=max(finished) if finished and status != RunStatus.RUNNING else None,
        tasks=len(attempts),
        failed_tasks=[_label(r) for r in attempts if r.status == RunStatus.FAILED],
        counts_out=_counts_out(attempts),
        details=with_details[-1].details if with_details else {},
    )


def latest_runs(db: Database, dag_ids: Sequence[str], scan: int = OVERVIEW_SCAN) -> dict[str, RunSummary | None]:
    """The latest run of each DAG (by its newest task record), None where it has not run yet."""
    latest_run_id: dict[str, str | None] = dict.fromkeys(dag_ids)
    for record in list_runs(db, limit=scan):
        if record.dag_id in latest_run_id and latest_run_id[record.dag_id] is None and record.run_id:
            latest_run_id[record.dag_id] = record.run_id
    summaries: dict[str, RunSummary | None] = {}
    for dag_id, run_id in latest_run_id.items():
        records = [r for r in list_runs(db, run_id=run_id) if r.dag_id == dag_id] if run_id else []
        summaries[dag_id] = summarize_run(records) if records else None
    return summaries
