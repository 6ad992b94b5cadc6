"""What the platform holds now: the printout at the end of the main job."""

from __future__ import annotations

from ragdag.documents import (
    DOCUMENT_COLLECTIONS,
    QUARANTINE,
    DocumentStatus,
    accepted_filter,
    status_filter,
)
from ragdag.settings import Settings
from ragdag.stores.mongo import AUTHORS, CRAWL_ERRORS, mongo_database
from ragdag.stores.object_store import open_object_store
from ragdag.stores.qdrant import qdrant_client
from ragdag.training.registry import MODEL_REGISTRY


def platform_summary(settings: Settings) -> dict:
    summary: dict = {"mongodb": {}, "qdrant": {}, "object_store": open_object_store(settings).root_uri}
    with mongo_database(settings) as db:
        for name in (*DOCUMENT_COLLECTIONS, AUTHORS, CRAWL_ERRORS, QUARANTINE):
            summary["mongodb"][name] = db[name].count_documents({})
        summary["mongodb"]["accepted"] = sum(db[name].count_documents(accepted_filter()) for name in DOCUMENT_COLLECTIONS)
        summary["mongodb"]["quarantined"] = sum(
            db[name].count_documents(status_filter(DocumentStatus.QUARANTINED)) for name in DOCUMENT_COLLECTIONS
        )
        model = db[MODEL_REGISTRY].find_one(sort=[("created_at", -1)])
    with qdrant_client(settings) as client:
        for collection in client.get_collections().collections:
            summary["qdrant"][collection.name] = client.count(collection.name, exact=True).count
    if model:
        summary["latest_model"] = {
            k: model[k] for k in ("model_id", "dataset_version", "backend", "metrics", "artifact_uri")
        }
        summary["dataset_version"] = model["dataset_version"]
    return summary
