"""The split of published versions: a document's side never changes as the corpus grows, and a
test split below the minimum fails the quality gate (real stored chunks, tests/datasets/conftest.py)."""

from __future__ import annotations

import json

import pytest
from chunk_fixtures import seed_chunks

from ragdag.datasets import layout
from ragdag.datasets.publish import publish_instruct_dataset
from ragdag.datasets.quality import DatasetQualityFailed
from ragdag.stores.object_store import open_object_store

pytestmark = pytest.mark.slow  # embeds the demo corpus once per session


def _documents_by_split(settings, version: str) -> dict[str, set[str]]:
    store = open_object_store(settings)
    return {
        split: {
            json.loads(line)["document_id"]
            for line in store.get_bytes(layout.sft_key(version, split)).decode().splitlines()
        }
        for split in layout.SPLITS
    }


def test_adding_documents_moves_no_document_across_the_split(settings, mongo_db, demo_chunks) -> None:
    first = publish_instruct_dataset(settings, run_id="run-1").manifest
    before = _documents_by_split(settings, first.version)
    assert before["test"] and before["train"]
    assert first.test_samples >= settings.dataset_min_test_samples
    assert first.split["test_documents"] == sorted(before["test"])

    added = seed_chunks(settings, documents=12)  # twelve more documents arrive
    second = publish_instruct_dataset(settings, run_id="run-2").manifest
    after = _documents_by_split(settings, second.version)
    assert second.version != first.version
    assert before["test"] <= after["test"], "every test document stays in test"
    assert not before["train"] & after["test"], "no train document moves to test"
    assert set(added) & after["test"] and set(added) & after["train"], "new documents go to both sides"


def test_a_test_split_below_the_minimum_fails_the_gate_saying_what_to_change(settings, mongo_db) -> None:
    seed_chunks(settings, documents=6)  # six one-sample documents: none falls in the test split
    with pytest.raises(DatasetQualityFailed, match="test_split_min_samples") as failed:
        publish_instruct_dataset(settings, run_id="run-small")
    message = str(failed.value)
    assert "RAGDAG_DATASET_MIN_TEST_SAMPLES" in message and "RAGDAG_DATASET_TEST_SHARE" in message
    assert "test_split_min_samples" in failed.value.report.failed
    store = open_object_store(settings)
    assert store.list_keys(f"{layout.DATASETS_PREFIX}/") == [], "nothing is published"
