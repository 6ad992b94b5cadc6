"""Qdrant access through qdrant-client: the feature store (cleaned documents, embedded chunks).

The client comes from the ``qdrant_default`` Airflow connection (the Qdrant provider's hook, for a
server or Qdrant Cloud) or, when it is not defined, from Qdrant's local mode on disk. Local mode lets
one process open a path at a time, so callers use :func:`qdrant_client` as a context manager and
the DAG runs the tasks that open it in a one-slot pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ragdag.settings import Settings, get_settings
from ragdag.stores.connections import find_connection

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

QDRANT_POOL = "qdrant_local"


@contextmanager
def qdrant_client(settings: Settings | None = None) -> Iterator[QdrantClient]:
    settings = settings or get_settings()
    if find_connection(settings.qdrant_conn_id) is not None:
        from airflow.providers.qdrant.hooks.qdrant import QdrantHook

        client = QdrantHook(conn_id=settings.qdrant_conn_id).conn
    else:
        from qdrant_client import QdrantClient

        settings.qdrant_path.mkdir(parents=True, exist_ok=True)
        client = QdrantClient(path=str(settings.qdrant_path))
    try:
        yield client
    finally:
        client.close()
