"""Qdrant access through qdrant-client: the feature store (cleaned documents, embedded chunks).

The client comes from the ``qdrant_default`` Airflow connection (the Qdrant provider's hook, for a
server or Qdrant Cloud) or, when it is not defined, from Qdrant's local mode on disk. Local mode lets
one process open a path at a time, so callers use :func:`qdrant_client` as a context manager and
the DAG runs the tasks that open it in a one-slot pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ragdag.errors import StoreUnavailable
from ragdag.settings import Settings, get_settings
from ragdag.stores.connections import find_connection

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

QDRANT_POOL = "qdrant_local"
_RETRY_EVERY_S = 0.5

log = logging.getLogger(__name__)


class QdrantUnavailable(StoreUnavailable, RuntimeError):
    """The feature store cannot be opened now (another process holds local mode's folder)."""


def _open_local(path: Path, wait_s: float) -> QdrantClient:
    """Local mode on ``path``, waiting up to ``wait_s`` while another process holds it."""
    from qdrant_client import QdrantClient

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return QdrantClient(path=str(path))
        except RuntimeError as error:
            if "already accessed by another instance" not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise QdrantUnavailable(
                    f"Qdrant local storage {path} is held by another process (local mode lets one "
                    f"process open it at a time); waited {wait_s:.0f}s (RAGDAG_QDRANT_LOCK_WAIT_S). "
                    "Airflow retries the task; if it keeps failing, stop the other process (a "
                    "`ragdag search`, a notebook, a stuck task) or run a Qdrant server "
                    "(connection qdrant_default)."
                ) from error
            log.warning("Qdrant local storage %s is in use by another process; retrying", path)
            time.sleep(_RETRY_EVERY_S)


@contextmanager
def qdrant_client(settings: Settings | None = None) -> Iterator[QdrantClient]:
    settings = settings or get_settings()
    if find_connection(settings.qdrant_conn_id) is not None:
        from airflow.providers.qdrant.hooks.qdrant import QdrantHook

        client = QdrantHook(conn_id=settings.qdrant_conn_id).conn
    else:
        settings.qdrant_path.mkdir(parents=True, exist_ok=True)
        client = _open_local(settings.qdrant_path, settings.qdrant_lock_wait_s)
    try:
        yield client
    finally:
        client.close()
