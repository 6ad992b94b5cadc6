"""What every DAG of the bundle shares: defaults, alerts, the run record, the run id, the Asset extra.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ragdag.notifications import failure_notifiers

F = TypeVar("F", bound=Callable[..., Any])

START_DATE = datetime(2026, 1, 1)
OWNER = "ml-platform"
TAGS = ["ragdag", "llm-twin"]

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
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
    # One notice per failed run, through every configured channel (ragdag.notifications).
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


# Which numbers of a stage's result (its Asset extra or return value) are its counts in and out.
STAGE_COUNTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crawl": (("sources",), ("new", "updated", "unchanged", "failed")),
    "validate": (("validated", "quarantined", "skipped"), ("validated",)),
    "embed": (
        ("documents_embedded", "documents_skipped", "documents_empty", "documents_deleted"),
        ("chunks_written", "chunks_deleted", "chunks_total"),
    ),
    "dataset": (("source_documents",), ("train_samples", "test_samples")),
    "train": (("train_samples",), ("models",)),
}


def _counts(values: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for key in keys:
        value = values.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            counts[key] = int(value)
        elif isinstance(value, (list, dict)):
            counts[key] = len(value)
    return counts


def _observe(record: Any, stage: str, item: Any) -> None:
    """Note an emitted Asset event (``Metadata``) or a returned report on the run record."""
    from airflow.sdk import Metadata

    from ragdag.run_records import AssetEventRecord

    if isinstance(item, Metadata):
        extra = dict(item.extra or {})
        record.assets_emitted.append(
            AssetEventRecord(asset_uri=item.asset.uri, asset_name=item.asset.name, extra=extra)
        )
        values: Mapping[str, Any] = extra
    elif isinstance(item, Mapping):
        values = item
    elif isinstance(item, list):
        values = {"items": item}
    else:
        return
    keys_in, keys_out = STAGE_COUNTS.get(stage, ((), ()))
    record.counts_in.update(_counts(values, keys_in))
    record.counts_out.update(_counts(values, keys_out or ("items",)))


def recorded(stage: str) -> Callable[[F], F]:
    """Give a task one run record (``ragdag.run_records``), written even when it fails.

    Goes under ``@task``. The record gets the Asset events the task yields and the counts of what
    it returns or emits (``STAGE_COUNTS``); the stage's own report joins it through
    ``record_stage_report``.
    """

    def decorate(func: F) -> F:
        def start() -> Any:
            from airflow.sdk import get_current_context

            from ragdag.run_records import task_run
            from ragdag.settings import get_settings

            return task_run(stage, get_current_context(), get_settings())

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Any:
                with start() as record:
                    for item in func(*args, **kwargs):
                        _observe(record, stage, item)
                        yield item

            return generator  # type: ignore[return-value]

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            with start() as record:
                result = func(*args, **kwargs)
                _observe(record, stage, result)
                return result

        return call  # type: ignore[return-value]

    return decorate
