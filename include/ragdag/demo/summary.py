"""What the platform holds now: the printout at the end of the main job."""

from __future__ import annotations

from ragdag.documents import (
    DOCUMENT_COLLECTIONS,
    QUARANTINE,
    DocumentStatus,
    accepted_filter,
    status_filter,
)
from ragdag.features.vector_store import count_points
from ragdag.settings import Settings
from ragdag.stores.mongo import AUTHORS, CRAWL_ERRORS, mongo_database
from ragdag.stores.object_store import open_object_store
from ragdag.stores.qdrant import qdrant_client
from ragdag.training.registry import list_models
from ragdag.validation.quarantine import list_quarantined


def platform_summary(settings: Settings) -> dict:
    summary: dict = {"mongodb": {}, "qdrant": {}, "object_store": open_object_store(settings).root_uri}
    with mongo_database(settings) as db:
        for name in (*DOCUMENT_COLLECTIONS, AUTHORS, CRAWL_ERRORS, QUARANTINE):
            summary["mongodb"][name] = db[name].count_documents({})
        summary["mongodb"]["accepted"] = sum(
            db[name].count_documents(accepted_filter()) for name in DOCUMENT_COLLECTIONS
        )
        summary["mongodb"]["quarantined"] = sum(
            db[name].count_documents(status_filter(DocumentStatus.QUARANTINED)) for name in DOCUMENT_COLLECTIONS
        )
    summary["quarantine"] = [  # what the gate holds back, and why: `ragdag quarantine list` for more
        {"url": e.url, "failed_expectations": e.failed_expectations, "id": e.id} for e in list_quarantined(settings)
    ]
    with qdrant_client(settings) as client:
        documents, chunks = count_points(client)
    summary["qdrant"] = {"documents": documents, "chunks": chunks}
    model = next(iter(list_models(settings)), None)
    if model:
        summary["latest_model"] = model.model_dump(
            mode="json", include={"model_id", "dataset_version", "backend", "metrics", "artifact_uri"}
        )
        summary["dataset_version"] = model.dataset_version
    return summary
