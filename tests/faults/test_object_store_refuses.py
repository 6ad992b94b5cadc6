"""The object store refusing a write in the middle of a dataset version: no version appears (no
manifest), ``LATEST`` stays on the previous one, and the re-run publishes exactly the version an
uninterrupted run publishes.

The refusal is real: a directory sits where one of the version's files must go, so the store's
write fails with the operating system's error (running as root, a read-only mode would not stop it).
"""

from __future__ import annotations

import shutil

import pytest

from ragdag.crawling.document_store import upsert_document
from ragdag.datasets import layout
from ragdag.datasets.publish import latest_dataset_version, publish_instruct_dataset
from ragdag.documents import STATUS_FIELD, DocumentStatus
from ragdag.features.pipeline import embed_validated_documents
from ragdag.models import Category
from ragdag.stores.object_store import open_object_store

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_a_refused_write_mid_version_leaves_latest_and_no_partial_version(
    settings, mongo_db, sample_corpus, embedder, tmp_path
) -> None:
    embed_validated_documents(settings, "embed-1", embedder=embedder)
    first = publish_instruct_dataset(settings, "dataset-1").manifest.version
    # A page changes: the next version differs.
    doc = mongo_db.articles.find_one({"_id": sorted(sample_corpus.values())[0]})
    upsert_document(
        mongo_db,
        category=Category.ARTICLES,
        url=doc["url"],
        author_full_name=doc["author_full_name"],
        platform=doc["platform"],
        content=doc["content"] + "\n\n" + doc["content"][:1500],
        fields={"title": doc["title"]},
        http=None,
    )
    mongo_db.articles.update_one({"_id": doc["_id"]}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})
    embed_validated_documents(settings, "embed-2", embedder=embedder)
    reference_settings = settings.model_copy(update={"object_store_url": (tmp_path / "reference").as_uri()})
    reference = publish_instruct_dataset(reference_settings, "reference").manifest
    assert reference.version != first

    store = open_object_store(settings)
    blocked = store._path(layout.file_key(reference.version, layout.TEST_FILE))  # noqa: SLF001 - the test's obstacle
    blocked.mkdir(parents=True)
    with pytest.raises(OSError):
        publish_instruct_dataset(settings, "dataset-2")

    assert latest_dataset_version(settings) == first
    assert not store.exists(layout.manifest_key(reference.version))

    shutil.rmtree(blocked)
    again = publish_instruct_dataset(settings, "dataset-2-retry").manifest

    assert again.version == reference.version and latest_dataset_version(settings) == again.version
    reference_store = open_object_store(reference_settings)
    for name in layout.DATA_FILES:
        key = layout.file_key(again.version, name)
        assert store.get_bytes(key) == reference_store.get_bytes(key), name
    versions = {
        k.split("/")[1] for k in store.list_keys(f"{layout.DATASETS_PREFIX}/") if k.endswith(layout.MANIFEST_FILE)
    }
    assert versions == {first, again.version}
