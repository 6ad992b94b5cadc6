"""The crawl stage end to end: a real HTTP server on 127.0.0.1, the real crawlers, real MongoDB."""

from __future__ import annotations

import gzip
import hashlib
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
from blog_site import LAST_MODIFIED, BlogSite
from http_server import LocalHttpServer, Reply, html, redirect, running_server

from ragdag.crawling.crawl_report import CrawlReport
from ragdag.crawling.document_store import CRAWLER_VERSION
from ragdag.crawling.fetching.fetcher import TransientFetchError
from ragdag.crawling.fetching.host_slots import SharedHostSlots
from ragdag.crawling.fetching.url_safety import normalize_url
from ragdag.crawling.service import crawl_host, crawl_targets
from ragdag.crawling.sources.crawl_plan import CrawlTarget, group_by_host, plan_targets
from ragdag.models import author_id
from ragdag.stores.mongo import AUTHORS, CRAWL_ERRORS

AUTHOR = "Jane Doe"
FEED_PAGES = ("medium-1", "ars-1")
SITEMAP_PAGES = ("mozilla-1", "wordpress", "ars-1")  # ars-1 is in both, as on real blogs
DIRECT_PAGE = "firefox-nightly-blog"
ALL_PAGES = {*FEED_PAGES, *SITEMAP_PAGES, DIRECT_PAGE}
GOOD_SOURCES = ("/feed.xml", "/sitemap.xml", f"/posts/{DIRECT_PAGE}", "/flaky")
BAD_SOURCES = ("/missing", "/huge", "/report.pdf", "/private/page", "/slow")
TIMEOUT_S = 1.0


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with running_server() as running:
        yield running


@pytest.fixture
def site(server: LocalHttpServer, article_pages_dir: Path) -> BlogSite:
    blog = BlogSite(server, article_pages_dir)
    for name in ALL_PAGES:
        blog.add_article(name)
    blog.feed_paths = [f"/posts/{name}" for name in FEED_PAGES] + ["/private/draft", "/posts/gone"]
    blog.sitemap_paths = [f"/posts/{name}" for name in SITEMAP_PAGES]
    blog.add_page("/private/draft", b"<html><body><p>not for crawlers</p></body></html>")
    # Broken sources: each fails in its own way.
    server.route("/missing", Reply(status=404, body=b"gone", content_type="text/plain"))
    server.route("/huge", Reply(body=b"<html><body>" + b"<p>x</p>" * 200_000 + b"</body></html>"))
    server.route("/report.pdf", Reply(body=b"%PDF-1.7 ...", content_type="application/pdf"))
    server.route("/slow", Reply(body=b"<html>late</html>", delay_s=TIMEOUT_S * 2.5))
    failures = iter([Reply(status=500)])
    server.route("/flaky", lambda _hit: next(failures, None) or html("finally up again"))
    return blog


@pytest.fixture
def crawl_settings(settings):
    return settings.model_copy(update={"http_timeout_s": TIMEOUT_S, "max_page_bytes": 1_000_000})


def targets(server: LocalHttpServer, *paths: str) -> list[CrawlTarget]:
    return [CrawlTarget(author_full_name=AUTHOR, url=server.url(path)) for path in paths]


def snapshot(db) -> dict[str, tuple]:
    return {
        doc["url"]: (doc["_id"], doc["version"], doc["crawled_at"], doc["content_hash"]) for doc in db.articles.find()
    }


def test_crawl_stores_documents_and_records_failures(site, server, crawl_settings, mongo_db) -> None:
    reports = crawl_targets(crawl_settings, targets(server, *GOOD_SOURCES, *BAD_SOURCES), "run-1", concurrency=4)

    docs = list(mongo_db.articles.find())
    assert {doc["url"] for doc in docs} == {site.url(f"/posts/{n}") for n in ALL_PAGES} | {site.url("/flaky")}
    for doc in docs:
        assert doc["url"] == normalize_url(doc["url"])
        assert doc["author_id"] == author_id(AUTHOR) and doc["author_full_name"] == AUTHOR
        assert doc["platform"] == "127.0.0.1"
        assert doc["content"].strip()
        assert doc["content_hash"] == hashlib.sha256(doc["content"].encode()).hexdigest()
        assert isinstance(doc["crawled_at"], datetime) and doc["version"] == 1
        assert doc["http"]["status"] == 200 and doc["crawler_version"] == CRAWLER_VERSION
        if "/posts/" in doc["url"]:
            assert doc["http"]["etag"].startswith('"') and doc["http"]["last_modified"] == LAST_MODIFIED
    assert mongo_db[AUTHORS].count_documents({"_id": author_id(AUTHOR)}) == 1

    recorded = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    errors = {error["url"].removeprefix(site.url("")): error["reason"] for error in recorded}
    assert set(errors) == {*BAD_SOURCES, "/private/draft", "/posts/gone"}
    assert "HTTP 404" in errors["/missing"] and "HTTP 404" in errors["/posts/gone"]
    assert "too large" in errors["/huge"]
    assert "neither HTML nor a feed" in errors["/report.pdf"]
    assert "robots.txt" in errors["/private/page"] and "robots.txt" in errors["/private/draft"]
    assert errors["/slow"].startswith("gave up after retries: no answer within")
    assert server.hits_for("/private/page") == [] and server.hits_for("/private/draft") == []

    assert len(server.hits_for("/flaky")) == 2  # the 500 was retried once, in-process
    total = CrawlReport.total(reports)
    # The feed's two dead links count as failed documents, not as failed sources.
    assert (total.sources, total.new, total.failed, total.failed_sources) == (9, 6, 7, 5)
    feed = reports[0]
    assert (feed.new + feed.unchanged, feed.failed, feed.failed_sources) == (len(FEED_PAGES), 2, 0)


def test_second_crawl_writes_nothing_and_costs_304s(site, server, crawl_settings, mongo_db) -> None:
    crawl_targets(crawl_settings, targets(server, *GOOD_SOURCES), "run-1", concurrency=4)
    before = snapshot(mongo_db)
    served_before = len(site.served)

    reports = crawl_targets(crawl_settings, targets(server, *GOOD_SOURCES), "run-2", concurrency=4)

    assert snapshot(mongo_db) == before
    total = CrawlReport.total(reports)
    assert (total.new, total.updated, total.failed_sources) == (0, 0, 0)
    assert total.unchanged == len(FEED_PAGES) + len(SITEMAP_PAGES) + 2  # + the direct page and /flaky
    assert set(site.served[served_before:]) == {(f"/posts/{n}", 304) for n in ALL_PAGES}


def test_feed_fetches_only_new_links(site, server, crawl_settings, mongo_db) -> None:
    feed = targets(server, "/feed.xml")
    crawl_targets(crawl_settings, feed, "run-1")
    site.feed_paths.insert(0, "/posts/wordpress")  # a new post, listed first
    served_before = len(site.served)

    [report] = crawl_targets(crawl_settings, feed, "run-2")

    assert (report.new, report.unchanged, report.failed, report.failed_sources) == (1, 2, 2, 0)
    assert sorted(site.served[served_before:]) == sorted(
        [("/posts/wordpress", 200)] + [(f"/posts/{n}", 304) for n in FEED_PAGES]
    )
    # The dead links are recorded again, under the new run.
    assert mongo_db[CRAWL_ERRORS].count_documents({"run_id": "run-2"}) == 2


def test_feed_link_cap(site, server, crawl_settings, mongo_db) -> None:
    capped = crawl_settings.model_copy(update={"feed_max_links": 1})
    [report] = crawl_targets(capped, targets(server, "/feed.xml"), "run-1")
    assert (report.new, report.failed) == (1, 0)
    assert [doc["url"] for doc in mongo_db.articles.find()] == [site.url(f"/posts/{FEED_PAGES[0]}")]


def test_changed_page_is_updated_in_place(site, server, crawl_settings, mongo_db) -> None:
    target = targets(server, f"/posts/{DIRECT_PAGE}")
    crawl_targets(crawl_settings, target, "run-1")
    [before] = mongo_db.articles.find()
    site.add_article("ars-1", path=f"/posts/{DIRECT_PAGE}")  # new content at the same URL

    [report] = crawl_targets(crawl_settings, target, "run-2")

    assert report.updated == 1
    [after] = mongo_db.articles.find()
    assert after["_id"] == before["_id"] and after["version"] == 2
    assert after["first_crawled_at"] == before["first_crawled_at"]
    assert after["crawled_at"] > before["crawled_at"]
    assert after["content_hash"] != before["content_hash"]
    assert after["http"]["etag"] != before["http"]["etag"]


def test_a_link_that_serves_a_feed_is_crawled_as_one(site, server, crawl_settings, mongo_db) -> None:
    server.route("/blog/updates", lambda _hit: site.rss())  # no feed-like URL, a feed content type
    [report] = crawl_targets(crawl_settings, targets(server, "/blog/updates"), None)
    assert (report.new, report.failed) == (len(FEED_PAGES), 2)
    assert mongo_db.articles.count_documents({}) == len(FEED_PAGES)


def test_a_single_post_page_is_refused_not_stored(server, crawl_settings, mongo_db) -> None:
    # Posts come from their accounts (tests/crawling/test_posts_*.py), not one page per post.
    server.route("/@jane/109876543210", html("A short post about shipping the crawler today."))
    [report] = crawl_targets(crawl_settings, targets(server, "/@jane/109876543210"), "run-1")
    assert (report.new, report.failed_sources) == (0, 1)
    assert server.hits_for("/@jane/109876543210") == []
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    assert "name the account in posts:" in error["reason"]
    assert mongo_db.posts.count_documents({}) == 0 and mongo_db.articles.count_documents({}) == 0


def test_transient_failure_stops_the_host_raises_for_airflow_and_is_recorded_on_the_last_attempt(
    server, crawl_settings, mongo_db
) -> None:
    server.route("/down", Reply(status=503, body=b"busy"))
    server.route("/fine", html("a page after the failing one"))
    [group] = (g.model_dump() for g in group_by_host(targets(server, "/down", "/fine")))

    with pytest.raises(TransientFetchError, match="HTTP 503"):
        crawl_host(crawl_settings, group, "run-1", last_attempt=False)
    assert mongo_db[CRAWL_ERRORS].count_documents({}) == 0
    assert len(server.hits_for("/down")) == 3  # the fetcher's own quick retries, then Airflow's turn
    assert server.hits_for("/fine") == []  # a struggling host is left alone until the retry

    report = crawl_host(crawl_settings, group, "run-1", last_attempt=True)
    assert (report["sources"], report["failed_sources"], report["new"]) == (2, 2, 0)
    errors = {e["url"]: e for e in mongo_db[CRAWL_ERRORS].find()}
    assert errors[server.url("/down")]["reason"].startswith("gave up after retries: HTTP 503")
    assert errors[server.url("/fine")]["reason"].startswith("not crawled: 127.0.0.1 failed just before")
    assert {e["run_id"] for e in errors.values()} == {"run-1"}


BINARY_BODIES = {
    "png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 20,
    "gzip": gzip.compress(b"<html><body><p>zipped twice</p></body></html>" * 50),
    "random": random.Random(3).randbytes(4096),
}


@pytest.mark.parametrize("body", BINARY_BODIES.values(), ids=BINARY_BODIES.keys())
def test_binary_body_served_as_html_is_refused_not_stored_empty(server, crawl_settings, mongo_db, body) -> None:
    server.route("/photo", Reply(body=body, content_type="text/html; charset=utf-8"))
    [report] = crawl_targets(crawl_settings, targets(server, "/photo"), "run-1")
    assert (report.failed_sources, report.new) == (1, 0)
    assert mongo_db.articles.count_documents({}) == 0
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert "binary body" in error["reason"] and "not an HTML page" in error["reason"]


def test_a_redirecting_alias_updates_the_real_page_not_a_copy(site, server, crawl_settings, mongo_db) -> None:
    real = f"/posts/{DIRECT_PAGE}"
    server.route("/short/firefox", lambda _hit: redirect(real, status=301))
    crawl_targets(crawl_settings, targets(server, real), "run-1")
    [before] = mongo_db.articles.find()

    # The alias, unchanged content: nothing new. The alias, changed content: the real page updates.
    [same] = crawl_targets(crawl_settings, targets(server, "/short/firefox"), "run-2")
    site.add_article("ars-1", path=real)
    [changed] = crawl_targets(crawl_settings, targets(server, "/short/firefox"), "run-3")

    assert (same.unchanged, same.new) == (1, 0)
    assert (changed.updated, changed.new) == (1, 0)
    [after] = mongo_db.articles.find()
    assert after["_id"] == before["_id"] and after["url"] == site.url(real)
    assert after["version"] == 2 and after["http"]["requested_url"] == site.url("/short/firefox")


def test_crawl_delay_holds_for_a_host_group(server, crawl_settings, mongo_db) -> None:
    crawl_delay = 0.3
    server.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain"))
    paths = [f"/note-{n}" for n in range(4)]
    for path in paths:
        server.route(path, html(f"A note at {path} about polite crawling of one small host."))
    [group] = (g.model_dump() for g in group_by_host(targets(server, *paths)))

    report = crawl_host(crawl_settings.model_copy(update={"per_host_delay_s": 0.0}), group, "run-1")

    assert report["new"] == len(paths)
    assert [hit.path for hit in server.hits].count("/robots.txt") == 1
    gaps = [later.at - earlier.at for earlier, later in pairwise(server.hits)]
    assert len(gaps) == len(paths) and min(gaps) >= crawl_delay


def test_planned_host_tasks_run_at_once_and_each_host_stays_polite(server, crawl_settings, mongo_db) -> None:
    """The DAG's own steps: plan the conf into host groups, then one crawl_host per group at once
    (as Airflow runs the mapped tasks, each with its own fetcher)."""
    delay = 0.2
    polite = crawl_settings.model_copy(update={"per_host_delay_s": delay})
    for n in range(8):
        server.route(f"/post-{n}", html(f"Post {n}: one task per host keeps the crawler polite."))
    links = [server.url(f"/post-{n}", host=host) for n in range(8) for host in ("127.0.0.1", "localhost")]
    groups = [g.model_dump() for g in group_by_host(plan_targets({"author": AUTHOR, "links": links}, Path("-")))]
    assert [g["host"] for g in groups] == ["127.0.0.1", "localhost"]

    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        reports = list(pool.map(lambda group: crawl_host(polite, group, "run-1"), groups))

    assert [r["new"] for r in reports] == [8, 8]
    for host in ("127.0.0.1", "localhost"):
        hits = [hit for hit in server.hits if hit.host == host]
        assert [hit.path for hit in hits].count("/robots.txt") == 1 and len(hits) == 9
        assert min(later.at - earlier.at for earlier, later in pairwise(hits)) >= delay
    # The two hosts were crawled at the same time: their requests interleave.
    order = [hit.host for hit in sorted(server.hits, key=lambda hit: hit.at)]
    assert sum(1 for a, b in pairwise(order) if a != b) > 4


def test_a_feed_on_one_host_and_the_task_of_another_host_share_its_slots(server, crawl_settings, mongo_db) -> None:
    """Host 127.0.0.1 has a feed listing pages on localhost, while localhost's own task crawls
    other pages there: both tasks at once, and localhost still sees one request per delay."""
    delay = 0.2
    polite = crawl_settings.model_copy(update={"per_host_delay_s": delay})
    for n in range(8):
        server.route(f"/post-{n}", html(f"Post {n}: requests from two tasks to one host, spaced."))
    foreign = "".join(f"<item><link>{server.url(f'/post-{n}', host='localhost')}</link></item>" for n in range(4))
    server.route(
        "/feed.xml",
        Reply(
            body=f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{foreign}</channel></rss>".encode(),
            content_type="application/rss+xml",
        ),
    )
    links = [server.url("/feed.xml")] + [server.url(f"/post-{n}", host="localhost") for n in range(4, 8)]
    groups = [g.model_dump() for g in group_by_host(plan_targets({"author": AUTHOR, "links": links}, Path("-")))]
    assert [g["host"] for g in groups] == ["127.0.0.1", "localhost"]

    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        reports = list(pool.map(lambda group: crawl_host(polite, group, "run-1"), groups))

    assert sum(r["new"] for r in reports) == 8
    hits = sorted((hit for hit in server.hits if hit.host == "localhost"), key=lambda hit: hit.at)
    assert len([h for h in hits if h.path != "/robots.txt"]) == 8
    assert min(later.at - earlier.at for earlier, later in pairwise(hits)) >= delay


def test_a_turn_held_by_a_dead_task_frees_after_its_lease(mongo_db) -> None:
    dead = SharedHostSlots(mongo_db, lease_s=0.3)
    dead.take("blog.example", 0.0)  # and never gives it back (the task was killed)
    alive = SharedHostSlots(mongo_db, lease_s=0.3)
    started = time.monotonic()
    token, waited = alive.take("blog.example", 0.0)
    assert 0.25 <= time.monotonic() - started and waited >= 0.25
    alive.give_back("blog.example", token)
    assert alive.take("blog.example", 0.0)[1] < 0.25  # free again at once
