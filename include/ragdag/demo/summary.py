"""What the platform holds now: the printout at the end of the main job."""

from __future__ import annotations

import json
from collections import Counter

from ragdag.datasets.layout import SPLITS, sft_key
from ragdag.datasets.publish import NoDatasetVersion, latest_dataset_version
from ragdag.documents import (
    DOCUMENT_COLLECTIONS,
    QUARANTINE,
    DocumentStatus,
    accepted_filter,
    collection_name,
    status_filter,
)
from ragdag.features.vector_store import count_points, iter_chunks
from ragdag.models import Category
from ragdag.settings import Settings
from ragdag.stores.mongo import AUTHORS, CRAWL_ERRORS, mongo_database
from ragdag.stores.object_store import open_object_store
from ragdag.stores.qdrant import qdrant_client
from ragdag.training.registry import list_models
from ragdag.validation.quarantine import list_quarantined


def _dataset_samples_by_category(settings: Settings) -> Counter[str]:
    """Samples of the latest dataset version (both splits) by category; empty before the first."""
    try:
        version = latest_dataset_version(settings)
    except NoDatasetVersion:
        return Counter()
    store = open_object_store(settings)
    counts: Counter[str] = Counter()
    for split in SPLITS:
        key = sft_key(version, split)
        if store.exists(key):
            lines = store.get_bytes(key).decode("utf-8").splitlines()
            counts.update(str(json.loads(line).get("category")) for line in lines if line.strip())
    return counts


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
        chunks_by_category = Counter(str(point.payload.get("category")) for point in iter_chunks(client))
    summary["qdrant"] = {"documents": documents, "chunks": chunks}
    # Each category from MongoDB to the dataset: the posts' row shows they got all the way.
    samples_by_category = _dataset_samples_by_category(settings)
    with mongo_database(settings) as db:
        summary["by_category"] = {
            category.value: {
                "documents": db[collection_name(category)].count_documents({}),
                "accepted": db[collection_name(category)].count_documents(accepted_filter()),
                "chunks": chunks_by_category.get(category.value, 0),
                "dataset_samples": samples_by_category.get(category.value, 0),
            }
            for category in Category
        }
    model = next(iter(list_models(settings)), None)
    if model:
        summary["latest_model"] = model.model_dump(
            mode="json", include={"model_id", "dataset_version", "backend", "metrics", "artifact_uri"}
        )
        summary["dataset_version"] = model.dataset_version
    return summary
