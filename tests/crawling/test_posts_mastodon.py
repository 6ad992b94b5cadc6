"""Mastodon accounts end to end: a fake server speaking the documented API on loopback, the real
crawler and fetcher, real MongoDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from http_server import LocalHttpServer, Reply, running_server
from social_fakes import FakeMastodon

from ragdag.crawling.crawl_report import CrawlReport
from ragdag.crawling.fetching.fetcher import Fetcher, TransientFetchError
from ragdag.crawling.sources.crawl_plan import plan_targets
from ragdag.crawling.sources.dispatcher import crawl_target
from ragdag.crawling.sources.post_cursors import POST_CURSORS
from ragdag.demo.social_apis import mastodon_status
from ragdag.documents import DocumentStatus, accepted_filter
from ragdag.features.source import embeddable_ids
from ragdag.stores.mongo import CRAWL_ERRORS

AUTHOR = "Jane Doe"
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FIRST_ID = 110_000_000_000_000_000


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with running_server() as running:
        yield running


@pytest.fixture
def mastodon(server: LocalHttpServer) -> FakeMastodon:
    fake = FakeMastodon(server)
    for n in range(90):
        html = f"<p>Post number {n} about retrieval, chunking and evaluation of RAG systems.</p>"
        fake.state.statuses.append(
            mastodon_status(fake.state, "jane", FIRST_ID + n, html, created_at=START + timedelta(hours=n))
        )
    # Not the author's own public words: a boost, a followers-only post.
    fake.state.statuses.append(
        mastodon_status(fake.state, "jane", FIRST_ID + 200, "<p>boosted</p>", created_at=START, reblog=True)
    )
    fake.state.statuses.append(
        mastodon_status(
            fake.state, "jane", FIRST_ID + 201, "<p>private words here</p>", created_at=START, visibility="private"
        )
    )
    return fake


def crawl(settings, mastodon: FakeMastodon, run_id: str = "run-1", **overrides) -> CrawlReport:
    [target] = plan_targets({"author": AUTHOR, "posts": [mastodon.source()]}, settings.sources_file)
    with Fetcher(settings.model_copy(update=overrides)) as fetcher:
        from ragdag.stores.mongo import mongo_database

        with mongo_database(settings) as db:
            return crawl_target(db, fetcher, target, run_id)


def test_first_crawl_pages_down_and_keeps_what_the_author_wrote(settings, mongo_db, mastodon) -> None:
    mastodon.state.statuses[0] = mastodon_status(
        mastodon.state,
        "jane",
        FIRST_ID,
        '<p>Read this <a href="https://example.com/long/path"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.com/long</span><span class="invisible">/path</span></a></p><p>second paragraph</p>',
        created_at=START,
        language="de",
        spoiler_text="RAG opinions",
        alts=("A chart of recall against chunk size",),
    )

    report = crawl(settings, mastodon)

    assert (report.new, report.updated, report.failed) == (90, 0, 0)
    pages = mastodon.statuses_hits()
    # 40 + 40 + 11 (one followers-only), down by max_id from the Link header, until an empty page
    # (Mastodon may list fewer than the limit before the end: it filters after paging).
    assert len(pages) == 4
    assert all(q["exclude_reblogs"] == ["true"] for q in pages)
    assert "max_id" not in pages[0] and pages[1]["max_id"] == [str(FIRST_ID + 51)]
    doc = mongo_db.posts.find_one({"post.platform_id": str(FIRST_ID)})
    assert doc["url"] == f"{mastodon.state.base_url}/@jane/{FIRST_ID}"
    assert doc["platform"] == "mastodon" and doc["language"] == "de"
    assert doc["content"] == (
        "Content warning: RAG opinions\n\nRead this https://example.com/long/path\n\nsecond paragraph"
        "\n\nImage: A chart of recall against chunk size"
    )
    assert doc["post"]["content_warning"] == "RAG opinions"
    assert doc["post"]["media_descriptions"] == ["A chart of recall against chunk size"]
    assert doc["published_at"].replace(tzinfo=UTC) == START
    assert doc["validation"]["status"] == DocumentStatus.PENDING
    assert mongo_db.posts.count_documents({"content": {"$regex": "boosted|private words"}}) == 0


def test_second_crawl_asks_only_for_newer_and_changes_nothing(settings, mongo_db, mastodon) -> None:
    crawl(settings, mastodon)
    before = {d["_id"]: (d["version"], d["content_hash"]) for d in mongo_db.posts.find()}
    asked_before = len(mastodon.statuses_hits())

    report = crawl(settings, mastodon, "run-2")

    assert (report.new, report.updated, report.failed) == (0, 0, 0)
    assert {d["_id"]: (d["version"], d["content_hash"]) for d in mongo_db.posts.find()} == before
    later = mastodon.statuses_hits()[asked_before:]
    assert later[0]["min_id"] == [str(FIRST_ID + 201)]  # what is newer than the newest stored
    assert len(later) == 1 + settings.posts_revisit_pages  # and the newest page, read again


def test_new_edited_and_deleted_posts(settings, mongo_db, mastodon) -> None:
    crawl(settings, mastodon)
    statuses = mastodon.state.statuses
    edited = next(s for s in statuses if s["id"] == str(FIRST_ID + 85))
    edited["content"] = "<p>Post number 85, corrected: chunk where the author paused.</p>"
    edited["edited_at"] = (START + timedelta(days=10)).isoformat()
    deleted_id = str(FIRST_ID + 80)
    statuses.remove(next(s for s in statuses if s["id"] == deleted_id))
    statuses.append(
        mastodon_status(
            mastodon.state,
            "jane",
            FIRST_ID + 300,
            "<p>A brand new post on evals.</p>",
            created_at=START + timedelta(days=20),
        )
    )

    report = crawl(settings, mastodon, "run-2")

    assert (report.new, report.updated) == (1, 1)
    doc = mongo_db.posts.find_one({"post.platform_id": str(FIRST_ID + 85)})
    assert doc["version"] == 2 and "corrected" in doc["content"] and doc["post"]["edited_at"] is not None
    gone = mongo_db.posts.find_one({"post.platform_id": deleted_id})
    assert gone["validation"]["status"] == DocumentStatus.GONE
    # Gone documents are not accepted: the feature stage's reconciliation drops their chunks.
    mongo_db.posts.update_many({"post.platform_id": {"$ne": deleted_id}}, {"$set": {"validation.status": "validated"}})
    assert gone["_id"] not in embeddable_ids(mongo_db, "posts", [gone["_id"]])
    assert mongo_db.posts.count_documents(accepted_filter()) == 90
    cursor = mongo_db[POST_CURSORS].find_one({})
    assert cursor["newest_id"] == str(FIRST_ID + 300)


def test_page_budget_leaves_the_history_for_the_next_crawl(settings, mongo_db, mastodon) -> None:
    first = crawl(settings, mastodon, posts_max_pages=2)
    assert first.new == 79  # two pages of 40, one of them followers-only
    second = crawl(settings, mastodon, "run-2", posts_max_pages=2)
    assert second.new == 11
    assert mongo_db.posts.count_documents({}) == 90


def test_429_with_reset_is_a_retry_and_a_spent_window_stops_the_source(settings, mongo_db, mastodon) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=90)).isoformat()
    mastodon.faults = [
        Reply(
            status=429,
            body=b'{"error":"Too many requests"}',
            content_type="application/json",
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
        )
    ]
    with pytest.raises(TransientFetchError) as raised:
        crawl(settings, mastodon)
    assert 60 < raised.value.retry_after_s <= 90
    assert len(mastodon.statuses_hits()) == 1  # not retried in-process: the reset is far

    # The window runs out after the second page: the crawl stops, keeping what it stored.
    mastodon.state.remaining = 3  # the lookup, then two pages
    mastodon.state.reset_at = datetime.now(UTC) + timedelta(seconds=120)
    with pytest.raises(TransientFetchError, match="rate limit"):
        crawl(settings, mastodon, "run-2")
    assert mongo_db.posts.count_documents({}) == 79
    mastodon.state.remaining = 300
    report = crawl(settings, mastodon, "run-3")  # the retry goes on below what was stored
    assert mongo_db.posts.count_documents({}) == 90 and report.failed == 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Reply(body=b'[{"id": "1", "content": ', content_type="application/json"), "invalid JSON"),
        (Reply(body=b"<html><body>Log in</body></html>"), "HTML page where the API's JSON"),
        (Reply(body=b'{"error": "not a list"}', content_type="application/json"), "should be a list"),
        (Reply(status=404, body=b'{"error":"Record not found"}', content_type="application/json"), "HTTP 404"),
    ],
)
def test_bad_answers_are_recorded_errors(settings, mongo_db, mastodon, fault, reason) -> None:
    mastodon.faults = [fault]
    # The lookup answers first: the fault hits the account lookup or the first page.
    report = crawl(settings, mastodon)
    assert (report.failed_sources, report.new) == (1, 0)
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    assert reason in error["reason"] and error["url"] == f"mastodon:{mastodon.account}"


def test_unknown_account_and_access_token(settings, mongo_db, mastodon, monkeypatch) -> None:
    token = '{"conn_type": "generic", "password": "token-123"}'  # pragma: allowlist secret
    monkeypatch.setenv("AIRFLOW_CONN_MASTODON_DEFAULT", token)
    crawl(settings, mastodon)
    hits = mastodon.server.hits_for(mastodon.statuses_path)
    assert hits and all(hit.headers.get("authorization") == "Bearer token-123" for hit in hits)
    robots = mastodon.server.hits_for("/robots.txt")
    assert robots and all("authorization" not in hit.headers for hit in robots)

    mastodon.username = "nobody"
    report = crawl(settings, mastodon, "run-2")
    assert report.failed_sources == 1
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-2"})
    assert "HTTP 404" in error["reason"]


def test_an_account_that_asks_not_to_be_indexed_is_not_crawled(settings, mongo_db, mastodon) -> None:
    lookup = b'{"id": "109000000000000001", "username": "jane", "noindex": true}'
    mastodon.server.route("/api/v1/accounts/lookup", Reply(body=lookup, content_type="application/json"))
    report = crawl(settings, mastodon)
    assert (report.failed_sources, mongo_db.posts.count_documents({})) == (1, 0)
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    assert "noindex" in error["reason"]
