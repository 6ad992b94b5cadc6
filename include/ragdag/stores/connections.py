"""Look up Airflow connections without making them mandatory.

Each external system has an Airflow connection (``mongo_default``, ``qdrant_default``,
``aws_default``). When the connection is not defined anywhere (metadata DB, ``AIRFLOW_CONN_*``
environment variables, secrets backend), the caller falls back to the embedded default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Connection


def find_connection(conn_id: str) -> Connection | None:
    """Return the Airflow connection ``conn_id``, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
