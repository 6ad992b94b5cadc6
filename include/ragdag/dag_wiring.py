"""What every DAG of the bundle shares: defaults, alerts, the run record, the run id, the Asset extra.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from ragdag.assets import STAGE_OF_DAG
from ragdag.errors import PermanentError
from ragdag.observability.notifications import failure_notifiers
from ragdag.stages import Stage

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "ml-platform"
TAGS = ["ragdag", "llm-twin"]

# A retry cannot fix a PermanentError (ragdag.errors): the task fails at once, whatever its retries.
NO_RETRY_ON_PERMANENT = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=f"{PermanentError.__module__}.{PermanentError.__qualname__}",
            action=RetryAction.FAIL,
            reason="a permanent error: a retry cannot fix it",
        )
    ]
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_policy": NO_RETRY_ON_PERMANENT,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=2),
}

DAG_KWARGS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "default_args": DEFAULT_ARGS,
    "max_active_runs": 1,
    "dagrun_timeout": timedelta(hours=6),
    # One notice per failed run, through every configured channel (ragdag.observability.notifications).
    "on_failure_callback": failure_notifiers(),
}


def run_id_of(context: dict[str, Any]) -> str:
    return str(context["run_id"])


def is_last_attempt(context: dict[str, Any]) -> bool:
    ti = context["ti"]
    return int(ti.try_number) > int(ti.max_tries)


def triggering_extra(context: dict[str, Any], key: str) -> Any:
    """The newest value of ``key`` in the extras of the Asset events that triggered this run."""
    events = context.get("triggering_asset_events") or {}
    for asset_events in events.values():
        for event in reversed(list(asset_events)):
            if key in (event.extra or {}):
                return event.extra[key]
    return None


# Which numbers of a stage's result (its Asset extras or return value) are its counts in and out;
# another DAG's records count every number of the result as out.
STAGE_COUNTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Stage.CRAWL: (("sources",), ("new", "updated", "unchanged", "failed")),
    Stage.VALIDATE: (("validated", "quarantined", "skipped"), ("validated",)),
    Stage.EMBED: (
        ("documents_embedded", "documents_skipped", "documents_empty", "documents_deleted"),
        ("chunks_written", "chunks_deleted", "chunks_total"),
    ),
    Stage.DATASET: (("source_documents",), ("train_samples", "test_samples")),
    Stage.TRAIN: (("train_samples",), ("models",)),
}


def _counts(values: Mapping[str, Any], keys: tuple[str, ...] | None) -> dict[str, int]:
    counts = {}
    for key in keys if keys is not None else tuple(values):
        value = values.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            counts[key] = int(value)
        elif keys is not None and isinstance(value, (list, dict)):
            counts[key] = len(value)
    return counts


def _stage(context: Mapping[str, Any]) -> str:
    dag_id = str(getattr(context.get("ti"), "dag_id", "") or getattr(context.get("dag"), "dag_id", ""))
    return STAGE_OF_DAG.get(dag_id, dag_id)


def _start_record(context: Any) -> None:
    from ragdag.observability.run_records import start_task_record
    from ragdag.settings import get_settings

    start_task_record(_stage(context), context, get_settings())


def _result_of(context: Mapping[str, Any]) -> Any:
    """The task's return value (this map index's for a mapped task); generator tasks yield Asset
    events and return nothing."""
    import inspect

    ti = context["ti"]
    callable_ = getattr(getattr(ti, "task", None), "python_callable", None)
    if callable_ is None or inspect.isgeneratorfunction(callable_):
        return None
    try:
        mapped = ti.map_index not in (None, -1)
        return (
            ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index) if mapped else ti.xcom_pull(task_ids=ti.task_id)
        )
    except Exception:  # noqa: BLE001 - no return value to count
        return None


def _finish_record(status: str) -> Callable[[Any], None]:
    def finish(context: Any) -> None:
        from ragdag.observability.run_records import AssetEventRecord, RunStatus, finish_task_record
        from ragdag.settings import get_settings

        stage = _stage(context)
        task = getattr(context.get("ti"), "task", None)
        emitted, values = [], {}
        outlet_events = context.get("outlet_events")
        for asset in getattr(task, "outlets", None) or []:
            if getattr(asset, "uri", None) is None or outlet_events is None:
                continue
            extra = dict(outlet_events[asset].extra or {})
            if status == RunStatus.SUCCESS.value:
                emitted.append(AssetEventRecord(asset_uri=asset.uri, asset_name=asset.name, extra=extra))
            values.update(extra)
        if status == RunStatus.SUCCESS.value:
            result = _result_of(context)
            if isinstance(result, Mapping):
                values = {**result, **values}
            elif isinstance(result, list):
                values.setdefault("items", result)
        keys_in, keys_out = STAGE_COUNTS.get(stage, ((), None))
        finish_task_record(
            stage,
            context,
            get_settings(),
            RunStatus(status),
            error=context.get("exception"),
            emitted=emitted,
            counts_in=_counts(values, keys_in),
            counts_out=_counts(values, keys_out),
        )

    return finish


# Every task attempt of every DAG gets one run record (ragdag.observability.run_records), whatever it does.
RUN_RECORD_CALLBACKS: dict[str, list[Callable[[Any], None]]] = {
    "on_execute_callback": [_start_record],
    "on_success_callback": [_finish_record("success")],
    "on_failure_callback": [_finish_record("failed")],
    "on_retry_callback": [_finish_record("failed")],
    "on_skipped_callback": [_finish_record("skipped")],
}
DEFAULT_ARGS.update(RUN_RECORD_CALLBACKS)
