"""The embedded MongoDB server process SIGKILLed in the middle of a crawl: the task fails, the
server comes back with what was written, and the retried task leaves exactly the documents an
uninterrupted crawl stores (nothing lost, nothing duplicated, no version bumped).

The kill is triggered by the site itself: its Nth page request kills the server before answering.
"""

from __future__ import annotations

import os
import signal
import threading
from functools import partial
from http.server import ThreadingHTTPServer

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ragdag.crawling.service import crawl_host
from ragdag.crawling.sources.crawl_plan import CrawlTarget, HostGroup
from ragdag.demo.site import SAMPLE_SITE_DIR, SHARED_PAGES, _Handler
from ragdag.documents import DOCUMENT_COLLECTIONS
from ragdag.settings import get_settings
from ragdag.stores import embedded_mongo
from ragdag.stores.mongo import AUTHORS, as_airflow_mongo_conn

pytestmark = pytest.mark.faults

KILL_AT_REQUEST = 4


class _KillingHandler(_Handler):
    counts: dict[str, int] = {}
    hooks: dict[str, object] = {}  # "on_request": called with the number of page requests so far

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.endswith(".html"):
            self.counts["pages"] = self.counts.get("pages", 0) + 1
            hook = self.hooks.get("on_request")
            if hook:
                hook(self.counts["pages"])
        super().do_GET()


def _stored(uri: str, database: str) -> dict:
    with MongoClient(uri, serverSelectionTimeoutMS=5_000) as client:
        db = client[database]
        return {
            **{
                name: sorted(
                    (d["url"], d["content_hash"], d["version"], d["validation"]["status"]) for d in db[name].find()
                )
                for name in DOCUMENT_COLLECTIONS
            },
            AUTHORS: sorted(d["full_name"] for d in db[AUTHORS].find()),
        }


def test_mongodb_killed_mid_crawl_recovers_with_nothing_lost_or_duplicated(settings, tmp_path, monkeypatch) -> None:
    data_dir = tmp_path / "mongodb"
    server = embedded_mongo.start(data_dir, embedded_mongo.free_port())
    uri = server.uri
    monkeypatch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", as_airflow_mongo_conn(uri + "?serverSelectionTimeoutMS=3000"))
    get_settings.cache_clear()

    handler = type("Handler", (_KillingHandler,), {"counts": {}, "hooks": {}})
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{site.server_address[1]}"
    pages = [f"{base}/{p.name}" for p in sorted(SAMPLE_SITE_DIR.glob("*.html"))]
    pages += [f"{base}/pages/{name}.html" for name in SHARED_PAGES]
    group = HostGroup(
        host=f"127.0.0.1:{site.server_address[1]}",
        targets=[CrawlTarget(author_full_name="Jane Doe", url=u) for u in pages],
    ).model_dump()
    try:
        handler.hooks["on_request"] = lambda n: n == KILL_AT_REQUEST and os.kill(server.pid, signal.SIGKILL)
        with pytest.raises(PyMongoError):
            crawl_host(get_settings(), group, "crawl-1", last_attempt=False)
        handler.hooks.clear()
        assert not embedded_mongo.status(data_dir).running

        restarted = embedded_mongo.start(data_dir, server.port)
        assert restarted.pid != server.pid
        written = _stored(uri, settings.mongo_database)
        assert 1 <= len(written["articles"]) < len(pages)  # what was written before the kill survived

        retried = crawl_host(get_settings(), group, "crawl-1", last_attempt=True)  # Airflow's retry

        monkeypatch.setenv("RAGDAG_MONGO_DATABASE", settings.mongo_database + "_reference")
        get_settings.cache_clear()
        reference = crawl_host(get_settings(), group, "reference", last_attempt=True)
        assert _stored(uri, settings.mongo_database) == _stored(uri, settings.mongo_database + "_reference")
        assert retried["failed"] == reference["failed"] == 0
        assert retried["new"] + retried["unchanged"] == reference["new"] == len(pages)
    finally:
        site.shutdown()
        site.server_close()
        embedded_mongo.stop(data_dir)
        get_settings.cache_clear()
