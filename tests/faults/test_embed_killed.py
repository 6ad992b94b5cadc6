"""The feature stage SIGKILLed at each of its store writes, then run again, leaves Qdrant and MongoDB
exactly as one uninterrupted run on the same documents (issue 9, break 2).

The killed run is a real child process (``embed_worker.py``) on the demo's real sample pages; it
stops at the chosen write and the test kills it there with SIGKILL (no cleanup, no ``finally``).
The re-run and the reference run (a fresh Qdrant folder, same MongoDB) run in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from held_process import kill_when_held
from store_snapshot import mongo_snapshot, qdrant_snapshot

from ragdag.crawling.document_store import upsert_document
from ragdag.documents import STATUS_FIELD, DocumentStatus
from ragdag.features.pipeline import embed_validated_documents
from ragdag.features.vector_store import iter_chunks
from ragdag.models import Category
from ragdag.stores.qdrant import qdrant_client

pytestmark = [pytest.mark.faults, pytest.mark.slow]

WORKER = Path(__file__).with_name("embed_worker.py")
HOLD_TIMEOUT_S = 300


def _killed_run(settings, point: str, tmp_path: Path, flush_chunks: int = 8) -> None:
    """Run the stage in a child process and SIGKILL it at ``point``."""
    marker = tmp_path / f"held-{point}"
    log_path = tmp_path / f"worker-{point}.log"
    log = log_path.open("w")
    child = subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            f"killed-{point}",
            "--hold-at",
            point,
            "--marker",
            str(marker),
            "--flush-chunks",
            str(flush_chunks),
        ],
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        kill_when_held(child, marker, point, timeout_s=HOLD_TIMEOUT_S, log=log_path)
    finally:
        log.close()


def _reference(settings, tmp_path: Path, embedder) -> dict:
    """What one uninterrupted run makes of the same MongoDB, in a Qdrant of its own."""
    reference = settings.model_copy(update={"data_dir": tmp_path / "reference"})
    embed_validated_documents(reference, "reference", embedder=embedder)
    return qdrant_snapshot(reference)


def _chunk_documents(settings) -> list[str]:
    with qdrant_client(settings) as client:
        return sorted({str(p.payload["document_id"]) for p in iter_chunks(client)})


def _change(mongo_db, doc_id: str) -> None:
    doc = mongo_db.articles.find_one({"_id": doc_id})
    upsert_document(
        mongo_db,
        category=Category.ARTICLES,
        url=doc["url"],
        author_full_name=doc["author_full_name"],
        platform=doc["platform"],
        content=doc["content"] + "\n\nAn added closing paragraph, crawled later.",
        fields={"title": doc["title"], "language": doc.get("language")},
        http=None,
    )
    mongo_db.articles.update_one({"_id": doc_id}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})


def test_killed_before_any_document_record(settings, mongo_db, sample_corpus, embedder, tmp_path) -> None:
    _killed_run(settings, "before-record", tmp_path)
    written = _chunk_documents(settings)
    assert written and qdrant_snapshot(settings)["documents"] == {}  # chunks, but no record of them
    # Meanwhile a re-crawl changed one of those documents and another one went.
    _change(mongo_db, written[0])
    if len(written) > 1:
        mongo_db.articles.delete_one({"_id": written[1]})
    else:
        mongo_db.articles.delete_one({"_id": next(i for i in sample_corpus.values() if i != written[0])})
    before = mongo_snapshot(mongo_db)

    report = embed_validated_documents(settings, "re-run", embedder=embedder)

    expected = _reference(settings, tmp_path, embedder)
    assert qdrant_snapshot(settings) == expected
    assert (report.documents_total, report.chunks_total) == (len(expected["documents"]), len(expected["chunks"]))
    assert mongo_snapshot(mongo_db) == before


def test_killed_mid_replacement(settings, mongo_db, sample_corpus, embedder, tmp_path) -> None:
    embed_validated_documents(settings, "first", embedder=embedder)
    changed = sorted(sample_corpus.values())[:2]
    for doc_id in changed:
        _change(mongo_db, doc_id)
    _killed_run(settings, "mid-replacement", tmp_path)
    before = mongo_snapshot(mongo_db)

    report = embed_validated_documents(settings, "re-run", embedder=embedder)

    assert qdrant_snapshot(settings) == _reference(settings, tmp_path, embedder)
    assert report.documents_embedded >= 1  # what the killed run had not recorded was redone
    assert mongo_snapshot(mongo_db) == before


def test_killed_mid_delete(settings, mongo_db, sample_corpus, embedder, tmp_path) -> None:
    embed_validated_documents(settings, "first", embedder=embedder)
    gone = sorted(sample_corpus.values())[-2:]
    mongo_db.articles.delete_one({"_id": gone[0]})
    mongo_db.articles.update_one({"_id": gone[1]}, {"$set": {STATUS_FIELD: DocumentStatus.QUARANTINED.value}})
    _killed_run(settings, "mid-delete", tmp_path)
    assert not set(gone) & set(_chunk_documents(settings))  # chunks went, the records are still there
    before = mongo_snapshot(mongo_db)

    report = embed_validated_documents(settings, "re-run", embedder=embedder)

    assert qdrant_snapshot(settings) == _reference(settings, tmp_path, embedder)
    assert report.documents_deleted == 2
    assert mongo_snapshot(mongo_db) == before
