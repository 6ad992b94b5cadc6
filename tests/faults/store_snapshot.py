"""What the feature store and MongoDB hold, as comparable hashes (read through their owners)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Written per run, not per content: a clock.
VOLATILE_PAYLOAD = ("embedded_at",)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def qdrant_snapshot(settings) -> dict[str, dict[str, str]]:
    """{"chunks": point id -> payload hash, "documents": ...}."""
    from ragdag.features.vector_store import iter_chunks, iter_document_points
    from ragdag.stores.qdrant import qdrant_client

    def hashed(points) -> dict[str, str]:
        return {p.id: _digest({k: v for k, v in p.payload.items() if k not in VOLATILE_PAYLOAD}) for p in points}

    with qdrant_client(settings) as client:
        return {"chunks": hashed(iter_chunks(client)), "documents": hashed(iter_document_points(client))}


def mongo_snapshot(db) -> dict[str, dict[str, str]]:
    """Every stored document and quarantine record, by id."""
    from ragdag.documents import DOCUMENT_COLLECTIONS, QUARANTINE

    return {name: {str(d["_id"]): _digest(d) for d in db[name].find()} for name in (*DOCUMENT_COLLECTIONS, QUARANTINE)}
