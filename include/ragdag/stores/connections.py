"""Look up Airflow connections without making them mandatory.

Each external system has an Airflow connection (``mongo_default``, ``qdrant_default``,
``aws_default``). When the connection is not defined anywhere (metadata DB, ``AIRFLOW_CONN_*``
environment variables, secrets backend), the caller falls back to the embedded default.

Every connection found has its secret parts registered with Airflow's secrets masker, so that
they are masked in task and processor logs: Airflow masks a password and the extras under
secret-like names itself, but not a webhook URL kept as the host (Slack's path is its secret), nor
a token in a URL's query or an extra under another name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Connection

# Extra names whose values are secrets (Airflow's own list is narrower: no `webhook`, `auth`, `key`).
SECRET_EXTRA = re.compile(r"pass|secret|token|key|auth|credential|webhook|signature|cookie|session", re.I)


def find_connection(conn_id: str) -> Connection | None:
    """Return the Airflow connection ``conn_id``, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    mask_connection_secrets(conn)
    return conn


def connection_secrets(conn: Connection) -> list[str]:
    """The parts of a connection that must never be logged: its password, the path and query of
    a URL kept as its host or schema (with the whole URL), and extras under secret-like names."""
    secrets = [conn.password or ""]
    for value in (conn.host or "", conn.schema or ""):
        parts = urlsplit(value if "://" in value else f"//{value}")
        tail = parts.path.strip("/") + (f"?{parts.query}" if parts.query else "")
        if tail:
            secrets += [value, tail, parts.path, parts.query]
        if parts.password:
            secrets.append(parts.password)
    secrets += list(_secret_extras(conn.extra_dejson if conn.extra else {}))
    return [secret for secret in dict.fromkeys(secrets) if len(secret) >= 5]


def _secret_extras(extra: Any, secret: bool = False) -> Iterator[str]:
    if isinstance(extra, dict):
        for key, value in extra.items():
            yield from _secret_extras(value, secret or bool(SECRET_EXTRA.search(str(key))))
    elif isinstance(extra, list):
        for value in extra:
            yield from _secret_extras(value, secret)
    elif secret and isinstance(extra, str):
        yield extra


def mask_connection_secrets(conn: Connection) -> None:
    from airflow.sdk.log import mask_secret

    for secret in connection_secrets(conn):
        mask_secret(secret)
