"""MongoDB access through pymongo: the raw-document warehouse.

The client comes from the ``mongo_default`` Airflow connection (through the Mongo provider's hook)
or, when that connection is not defined, from the embedded server this project runs.

This module owns the database's layout: the collection names (the documents' are
:mod:`ragdag.documents`') and their indexes, created once per process and database
(:func:`ensure_indexes`), not at every open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ragdag.documents import DOCUMENT_COLLECTIONS, QUARANTINE, STATUS_FIELD
from ragdag.settings import Settings, get_settings
from ragdag.stores import embedded_mongo
from ragdag.stores.connections import find_connection

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.database import Database

# The documents' collections and their statuses are ragdag.documents'; these are the others. Each
# has one writer: crawling (authors, crawl errors), run_records, audit, training.registry.
AUTHORS = "authors"
CRAWL_ERRORS = "crawl_errors"
RUNS = "runs"
AUDIT_TRAIL = "audit_trail"
MODEL_REGISTRY = "model_registry"

# The databases whose indexes this process made: (servers, database name).
_indexed: set[tuple[tuple[str, ...], str]] = set()
_indexed_lock = threading.Lock()


def as_airflow_mongo_conn(uri: str) -> str:
    """``mongodb://host:port/db?opts`` as the Mongo provider's connection URI (conn type ``mongo``)."""
    parts = urlsplit(uri)
    return f"mongo://{parts.netloc}/{parts.path.lstrip('/')}" + (f"?{parts.query}" if parts.query else "")


def open_client(settings: Settings | None = None) -> MongoClient:
    settings = settings or get_settings()
    from pymongo import MongoClient

    if find_connection(settings.mongo_conn_id) is not None:
        from airflow.providers.mongo.hooks.mongo import MongoHook

        return MongoHook(mongo_conn_id=settings.mongo_conn_id).get_conn()
    server = embedded_mongo.start(settings.mongo_data_dir, settings.embedded_mongo_port)
    return MongoClient(server.uri, serverSelectionTimeoutMS=10_000, tz_aware=True)


def create_indexes(db: Database) -> None:
    """Create the indexes the pipeline relies on (idempotent: an index that exists is left alone)."""
    for name in DOCUMENT_COLLECTIONS:
        db[name].create_index("url", unique=True)
        db[name].create_index("author_id")
        db[name].create_index("content_hash")
        db[name].create_index(STATUS_FIELD)
    db[AUTHORS].create_index("full_name", unique=True)
    db[CRAWL_ERRORS].create_index([("url", 1), ("run_id", 1)])
    db[QUARANTINE].create_index("document_id")
    db[QUARANTINE].create_index("status")
    db[RUNS].create_index([("stage", 1), ("started_at", -1)], name="runs_by_stage")  # newest first
    db[RUNS].create_index([("run_id", 1), ("started_at", -1)], name="runs_by_run")  # one DAG run's records
    db[MODEL_REGISTRY].create_index("stage", name="models_by_stage")  # the production model
    db[MODEL_REGISTRY].create_index("created_at", name="models_by_time")  # newest first
    db[AUDIT_TRAIL].create_index("at", name="audit_by_time")  # the trail in time order


def _servers(db: Database) -> tuple[str, ...]:
    return tuple(sorted(f"{host}:{port}" for host, port in db.client.topology_description.server_descriptions()))


def ensure_indexes(db: Database) -> None:
    """:func:`create_indexes`, once per process for each server and database (opens are frequent:
    every task and every run-record callback opens the database)."""
    key = (_servers(db), db.name)
    if key in _indexed:
        return
    with _indexed_lock:
        if key not in _indexed:
            create_indexes(db)
            _indexed.add(key)


@contextmanager
def mongo_database(settings: Settings | None = None) -> Iterator[Database]:
    """The project's database with its indexes, closed on exit."""
    settings = settings or get_settings()
    client = open_client(settings)
    try:
        db = client[settings.mongo_database]
        ensure_indexes(db)
        yield db
    finally:
        client.close()
