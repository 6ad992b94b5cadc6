"""The partitioned feature stage: plan, one encoding per partition staged in the object store, one upsert.

Real MongoDB, Qdrant local mode, the real model, real pages (the demo's sample site and shared
pages). A partition is SIGKILLed for real (a child process) in the middle of staging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from held_process import kill_when_held

from ragdag.features.embedding import LazyEmbedder
from ragdag.features.partitions import STAGING_PREFIX, load_plan, partition_of
from ragdag.features.pipeline import (
    PipelineConfig,
    clean_staging,
    embed_validated_documents,
    encode_embedding_partition,
    finish_embedding,
    plan_embedding,
)
from ragdag.features.staging import read_manifest
from ragdag.features.vector_store import iter_chunks, iter_document_points
from ragdag.stores.object_store import open_object_store
from ragdag.stores.qdrant import qdrant_client

pytestmark = pytest.mark.slow  # loads the embedding model (once per session)

SMALL_GROUPS = PipelineConfig(flush_chunks=4)  # several staged parts per partition
# The sample pages are far fewer chunks than RAGDAG_EMBEDDING_MIN_PARTITION_CHUNKS: spread them anyway.
SPREAD = {"embedding_min_partition_chunks": 1}
VOLATILE = ("embedded_at",)


@pytest.fixture
def pages(sample_corpus) -> dict[str, str]:
    """The demo's sample pages, stored and accepted (tests/conftest.py); URL -> id."""
    return sample_corpus


def _with(settings, **update):
    return settings.model_copy(update=update)


def store_contents(settings) -> dict[str, dict]:
    """Every point: payload (without the clock) and vector."""
    with qdrant_client(settings) as client:
        return {
            kind: {p.id: ({k: v for k, v in p.payload.items() if k not in VOLATILE}, p.vector) for p in points}
            for kind, points in (
                ("chunks", list(iter_chunks(client, with_vectors=True))),
                ("documents", list(iter_document_points(client, with_vectors=True))),
            )
        }


def assert_same_store(actual: dict, expected: dict) -> None:
    for kind in ("chunks", "documents"):
        assert actual[kind].keys() == expected[kind].keys(), kind
        for point_id, (payload, vector) in expected[kind].items():
            assert actual[kind][point_id][0] == payload
            assert np.allclose(actual[kind][point_id][1], vector, atol=1e-5, rtol=0)


def _reference(settings, tmp_path: Path, embedder) -> dict:
    """One partition, one process: what the stage made before it was partitioned."""
    reference = _with(settings, data_dir=tmp_path / "reference", embedding_partitions=1)
    embed_validated_documents(reference, "reference", embedder=embedder)
    return store_contents(reference)


def test_partition_of_is_stable_and_spreads() -> None:
    ids = [f"doc-{i}" for i in range(400)]
    here = [partition_of(i, 4) for i in ids]
    code = "import sys; from ragdag.features.partitions import partition_of; print([partition_of(f'doc-{i}', 4) for i in range(400)])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert eval(other) == here  # another process (another hash seed) places every document alike
    assert all(60 <= here.count(p) <= 140 for p in range(4))


def test_partitions_give_the_store_of_one_partition(settings, pages, embedder, tmp_path) -> None:
    expected = _reference(settings, tmp_path, embedder)
    partitioned = _with(settings, embedding_partitions=3, **SPREAD)

    plan = plan_embedding(partitioned, "run-1")
    assert len(plan.partitions) == 3 and sum(p.documents for p in plan.partitions) == len(pages)
    for ref in plan.partitions:
        staged = load_plan(open_object_store(partitioned), ref.plan_key)
        assert {partition_of(d.document_id, 3) for d in staged.documents} == {ref.partition}
        manifest, encoded = encode_embedding_partition(
            partitioned, ref.plan_key, embedder=embedder, config=SMALL_GROUPS
        )
        assert encoded and len(manifest.parts) >= 1
    report = finish_embedding(partitioned, "run-1", embedder=embedder)

    assert report.documents_embedded + report.documents_empty == len(pages)
    assert report.chunks_total == report.chunks_written == len(expected["chunks"])
    assert_same_store(store_contents(partitioned), expected)
    store = open_object_store(partitioned)
    assert store.list_keys(f"{STAGING_PREFIX}/")  # kept until the task succeeded...
    assert clean_staging(partitioned, "run-1") > 0
    assert store.list_keys(f"{STAGING_PREFIX}/") == []  # ...then gone

    again = embed_validated_documents(partitioned, "run-2", embedder=embedder)
    assert (again.documents_embedded, again.chunks_written, again.documents_skipped) == (0, 0, len(pages))


class _NoModel(LazyEmbedder):
    def get(self):
        raise AssertionError("a staged partition must not load the model")


_KILLED_PARTITION = textwrap.dedent("""
    import sys, time
    from ragdag.stores.object_store import LocalObjectStore
    real, marker = LocalObjectStore.put_bytes, sys.argv[2]
    def held(self, key, data):
        if key.endswith("part-00001.npz"):  # the first group is staged, the second is not
            open(marker, "w").write(key)
            time.sleep(3600)  # until SIGKILL
        return real(self, key, data)
    LocalObjectStore.put_bytes = held
    from ragdag.features.pipeline import PipelineConfig, encode_embedding_partition
    from ragdag.settings import get_settings
    encode_embedding_partition(get_settings(), sys.argv[1], config=PipelineConfig(flush_chunks=4))
""")


def test_a_killed_partition_reruns_alone(settings, pages, embedder, tmp_path, monkeypatch) -> None:
    expected = _reference(settings, tmp_path, embedder)
    monkeypatch.setenv("RAGDAG_EMBEDDING_PARTITIONS", "3")
    partitioned = _with(settings, embedding_partitions=3, **SPREAD)
    plan = plan_embedding(partitioned, "run-1")
    store = open_object_store(partitioned)
    killed = max(plan.partitions, key=lambda p: p.documents)
    done = [p for p in plan.partitions if p is not killed]
    for ref in done:
        encode_embedding_partition(partitioned, ref.plan_key, embedder=embedder, config=SMALL_GROUPS)
    before = {key: store.get_bytes(key) for key in store.list_keys(f"{STAGING_PREFIX}/")}

    marker = tmp_path / "held"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PARTITION, killed.plan_key, str(marker)], env=dict(os.environ)
    )
    kill_when_held(child, marker, "its second part")
    killed_plan = load_plan(store, killed.plan_key)
    assert store.exists(killed_plan.part_key(0)) and read_manifest(store, killed_plan) is None  # half staged
    with pytest.raises(RuntimeError, match="not staged"):
        finish_embedding(partitioned, "run-1", embedder=embedder)  # the upsert refuses a half partition

    # The retry of the run's encodings: finished partitions are found staged, the killed one is redone.
    for ref in done:
        _, encoded = encode_embedding_partition(
            partitioned, ref.plan_key, embedder=_NoModel(partitioned), config=SMALL_GROUPS
        )
        assert not encoded
    _, encoded = encode_embedding_partition(partitioned, killed.plan_key, embedder=embedder, config=SMALL_GROUPS)
    assert encoded
    assert all(store.get_bytes(key) == data for key, data in before.items())  # untouched
    finish_embedding(partitioned, "run-1", embedder=embedder)
    assert_same_store(store_contents(partitioned), expected)


def test_changed_and_gone_documents_across_partitions(settings, mongo_db, pages, embedder, tmp_path) -> None:
    from ragdag.documents import STATUS_FIELD, DocumentStatus

    partitioned = _with(settings, embedding_partitions=4, **SPREAD)
    embed_validated_documents(partitioned, "run-1", embedder=embedder)
    ids = sorted(pages.values())
    changed, gone = ids[0], ids[1]
    doc = mongo_db.articles.find_one({"_id": changed})
    mongo_db.articles.update_one(
        {"_id": changed},
        {"$set": {"content": doc["content"] + "\n\nA closing paragraph added later.", "content_hash": "changed"}},
    )
    mongo_db.articles.update_one({"_id": gone}, {"$set": {STATUS_FIELD: DocumentStatus.QUARANTINED.value}})

    plan = plan_embedding(partitioned, "run-2")
    assert [p.documents for p in plan.partitions] == [1]  # only the changed document is pending
    report = embed_validated_documents(partitioned, "run-2", embedder=embedder)

    assert (report.documents_embedded, report.documents_deleted) == (1, 1)
    assert report.documents_skipped == len(pages) - 2
    expected = _reference(settings, tmp_path, embedder)
    assert_same_store(store_contents(partitioned), expected)
    assert open_object_store(partitioned).list_keys(f"{STAGING_PREFIX}/") == []


def test_staging_on_s3(aws_s3_settings, pages, embedder, tmp_path) -> None:
    """Production's object store: staged vectors in a bucket (moto's S3 API), cleaned after the run."""
    s3 = _with(aws_s3_settings, embedding_partitions=2, **SPREAD)
    store = open_object_store(s3)
    plan = plan_embedding(s3, "run-1")
    for ref in plan.partitions:
        encode_embedding_partition(s3, ref.plan_key, embedder=embedder)
    assert any(k.endswith("manifest.json") for k in store.list_keys(f"{STAGING_PREFIX}/"))
    finish_embedding(s3, "run-1", embedder=embedder)
    clean_staging(s3, "run-1")
    assert store.list_keys(f"{STAGING_PREFIX}/") == []
    assert_same_store(store_contents(s3), _reference(aws_s3_settings, tmp_path, embedder))


def test_a_successful_run_deletes_the_staging_of_unfinished_runs_past_their_retention(settings, mongo_db) -> None:
    from datetime import UTC, datetime, timedelta

    from ragdag.features.partitions import run_prefix
    from ragdag.observability.run_records import record_stage_report
    from ragdag.stores.mongo import RUNS

    store = open_object_store(settings)
    runs = ("manual__2026-11-01T10:00:00+00:00", "scheduled__2026-12-01T00:00:00+00:00", "run-orphan", "run-now")
    for run_id in runs:
        store.put_bytes(f"{run_prefix(run_id)}/p000-abc/part-00000.npz", b"vectors")
    old, recent = runs[0], runs[1]
    for run_id in (old, recent, "run-now"):
        record_stage_report(mongo_db, "embed", run_id, {}, settings=settings)
    stale = mongo_db[RUNS].find_one({"run_id": old})
    # A whole replacement keeps the datetime a datetime on every server.
    mongo_db[RUNS].replace_one({"_id": stale["_id"]}, {**stale, "started_at": datetime.now(UTC) - timedelta(days=8)})

    assert clean_staging(settings, "run-now") == 3

    assert store.list_keys(f"{STAGING_PREFIX}/") == [f"{run_prefix(recent)}/p000-abc/part-00000.npz"]
    # A shorter retention lets the recent one go too.
    assert clean_staging(settings.model_copy(update={"staging_retention_days": 1e-9}), "run-later") == 1
    assert store.list_keys(f"{STAGING_PREFIX}/") == []


def test_the_stage_sizes_come_from_the_settings(settings, pages, embedder) -> None:
    from ragdag.features.staging import iter_parts

    small = _with(settings, embedding_partitions=1, embedding_flush_chunks=4, embedding_page_documents=2)
    (ref,) = plan_embedding(small, "run-sizes").partitions
    manifest, encoded = encode_embedding_partition(small, ref.plan_key, embedder=embedder)

    assert encoded and manifest.chunks > 8
    store = open_object_store(small)
    groups = [sum(len(item.chunks) for item in items) for items in iter_parts(store, manifest)]
    # A group is flushed once it reaches the setting's size: every part but the last ends there.
    assert len(groups) == len(manifest.parts) >= 3
    assert all(size >= 4 for size in groups[:-1]) and sum(groups) == manifest.chunks
