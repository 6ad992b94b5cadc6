from __future__ import annotations

import json

from chunk_fixtures import seed_chunks

from ragdag.datasets.publish import build_instruct_dataset, latest_dataset_version, load_manifest
from ragdag.stores.object_store import open_object_store


def test_publishes_a_versioned_dataset_with_lineage(settings, mongo_db) -> None:
    doc_ids = seed_chunks(settings)
    mongo_db.articles.insert_one({"_id": doc_ids[0], "url": "https://blog.test/post-0", "title": "Fresh features"})
    manifest = build_instruct_dataset(settings, run_id="run-1")
    assert manifest.published and manifest.version.startswith("v-")
    assert manifest.train_samples + manifest.test_samples == 18
    assert set(manifest.source_documents) == set(doc_ids)
    store = open_object_store(settings)
    train = [json.loads(line) for line in store.get_bytes(f"instruct_datasets/{manifest.version}/train.jsonl").splitlines()]
    test = [json.loads(line) for line in store.get_bytes(f"instruct_datasets/{manifest.version}/test.jsonl").splitlines()]
    assert len(train) == manifest.train_samples and len(test) == manifest.test_samples
    assert not {s["document_id"] for s in train} & {s["document_id"] for s in test}
    titled = [s for s in train + test if s["document_id"] == doc_ids[0]]
    assert all("Fresh features" in s["instruction"] for s in titled)
    assert latest_dataset_version(settings) == manifest.version
    assert load_manifest(settings, manifest.version).built_by_run_id == "run-1"
    assert mongo_db.runs.find_one({"stage": "dataset", "version": manifest.version})


def test_rebuilding_unchanged_features_publishes_nothing_new(settings, mongo_db) -> None:
    seed_chunks(settings)
    first = build_instruct_dataset(settings, run_id="run-1")
    keys = open_object_store(settings).list_keys("instruct_datasets/")
    again = build_instruct_dataset(settings, run_id="run-2")
    assert again.version == first.version and not again.published
    assert again.built_by_run_id == "run-1"
    assert open_object_store(settings).list_keys("instruct_datasets/") == keys
    seed_chunks(settings, documents=7)
    assert build_instruct_dataset(settings, run_id="run-3").version != first.version
