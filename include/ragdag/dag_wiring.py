"""What every DAG of the bundle shares: defaults, the run id, the settings, the Asset event extra.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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
