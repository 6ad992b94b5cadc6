"""The embedded MongoDB server SIGKILLed in the middle of validation (break 1 of issue 25): the
stub pages are quarantined, then the server dies before the good pages are all judged. The retried
task must reach the verdict an uninterrupted run reaches: the gate fails, with every stub counted.

Before the fix the retry's gate saw only what its own attempt judged (the dead attempt's counts
were never written), passed with ``quarantined 0`` and let the chain go on.
"""

from __future__ import annotations

import os
import signal

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ragdag.crawling.document_store import upsert_document
from ragdag.crawling.extraction import extract_article
from ragdag.demo.site import SAMPLE_SITE_DIR, SHARED_PAGES, SHARED_PAGES_DIR
from ragdag.documents import DOCUMENT_COLLECTIONS
from ragdag.models import Category
from ragdag.settings import get_settings
from ragdag.stores import embedded_mongo
from ragdag.stores.mongo import as_airflow_mongo_conn
from ragdag.validation import ValidationGateFailed, validate_pending_documents
from ragdag.validation import stage as validation_stage

pytestmark = pytest.mark.faults

STUBS = 4  # next to the good pages: well over the 20% failed-share threshold


def _seed(uri: str, database: str) -> int:
    """Stub pages and good pages (the demo site's, extracted as the crawler does), all pending."""
    pages = {f"https://blog.test/{p.name}": p for p in sorted(SAMPLE_SITE_DIR.glob("*.html"))}
    pages.update(
        {f"https://blog.test/pages/{name}.html": SHARED_PAGES_DIR / name / "source.html" for name in SHARED_PAGES}
    )
    with MongoClient(uri, serverSelectionTimeoutMS=5_000) as client:
        db = client[database]
        # Stubs first: the server reads them back first, so the kill lands mid-batch.
        for n in range(STUBS):
            upsert_document(
                db,
                category=Category.ARTICLES,
                url=f"https://blog.test/stub-{n}.html",
                author_full_name="Jane Doe",
                platform="blog.test",
                content=f"Coming soon ({n}).",
                fields={"title": f"Stub {n}", "language": "en"},
                http=None,
            )
        for url, path in pages.items():
            article = extract_article(path.read_bytes(), url=url)
            fields = {"title": article.title, "language": article.language}
            upsert_document(
                db,
                category=Category.ARTICLES,
                url=url,
                author_full_name="Jane Doe",
                platform="blog.test",
                content=article.content,
                fields=fields,
                http=None,
            )
    return len(pages)


def _statuses(uri: str, database: str) -> dict[str, list[str]]:
    with MongoClient(uri, serverSelectionTimeoutMS=5_000) as client:
        db = client[database]
        return {
            name: sorted(f"{d['url']} {d['validation']['status']}" for d in db[name].find())
            for name in DOCUMENT_COLLECTIONS
        }


def _use_database(monkeypatch: pytest.MonkeyPatch, name: str):
    monkeypatch.setenv("RAGDAG_MONGO_DATABASE", name)
    get_settings.cache_clear()
    return get_settings()


def test_mongodb_killed_mid_validation_the_retry_fails_the_gate_like_an_uninterrupted_run(
    settings, tmp_path, monkeypatch
) -> None:
    data_dir = tmp_path / "mongodb"
    server = embedded_mongo.start(data_dir, embedded_mongo.free_port())
    monkeypatch.setenv(
        "AIRFLOW_CONN_MONGO_DEFAULT", as_airflow_mongo_conn(server.uri + "?serverSelectionTimeoutMS=3000")
    )
    killed_db, reference_db = settings.mongo_database, settings.mongo_database + "_reference"
    try:
        good = _seed(server.uri, killed_db)
        _seed(server.uri, reference_db)
        assert STUBS / (good + STUBS) > settings.validation_max_failed_share

        # The uninterrupted run: its gate fails.
        with pytest.raises(ValidationGateFailed) as uninterrupted:
            validate_pending_documents(_use_database(monkeypatch, reference_db), "run-1")
        assert (uninterrupted.value.report.validated, uninterrupted.value.report.quarantined) == (good, STUBS)

        # The same batch, with the server SIGKILLed once every stub is quarantined.
        real_hold = validation_stage.hold_in_quarantine
        held: list[str] = []

        def hold_then_kill(*args, **kwargs):
            qid = real_hold(*args, **kwargs)
            held.append(qid)
            if len(held) == STUBS:
                os.kill(server.pid, signal.SIGKILL)
            return qid

        monkeypatch.setattr(validation_stage, "hold_in_quarantine", hold_then_kill)
        with pytest.raises(PyMongoError):
            validate_pending_documents(_use_database(monkeypatch, killed_db), "run-1")
        monkeypatch.setattr(validation_stage, "hold_in_quarantine", real_hold)
        assert len(held) == STUBS and None not in held
        assert not embedded_mongo.status(data_dir).running

        embedded_mongo.start(data_dir, server.port)
        left = [line for line in _statuses(server.uri, killed_db)["articles"] if line.endswith(" pending")]
        assert left, "the server died after the last document was judged, not mid-batch"
        with pytest.raises(ValidationGateFailed) as retried:  # Airflow's retry of the same run
            validate_pending_documents(_use_database(monkeypatch, killed_db), "run-1")

        report, reference = retried.value.report, uninterrupted.value.report
        assert (report.validated, report.quarantined, report.gate_passed) == (good, STUBS, False)
        assert report.failed_share == reference.failed_share
        assert report.expectation_failures == reference.expectation_failures
        assert _statuses(server.uri, killed_db) == _statuses(server.uri, reference_db)
    finally:
        embedded_mongo.stop(data_dir)
        get_settings.cache_clear()
