"""Bluesky accounts end to end: a fake AppView speaking getAuthorFeed on loopback, the real
crawler and fetcher, real MongoDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from http_server import LocalHttpServer, Reply, running_server
from social_fakes import FakeBluesky

from ragdag.crawling.crawl_report import CrawlReport
from ragdag.crawling.fetching.fetcher import Fetcher, TransientFetchError
from ragdag.crawling.sources.crawl_plan import plan_targets
from ragdag.crawling.sources.dispatcher import crawl_target
from ragdag.demo.social_apis import bluesky_item, bluesky_post_view, bluesky_repost
from ragdag.documents import DocumentStatus
from ragdag.stores.mongo import CRAWL_ERRORS, mongo_database

AUTHOR = "Jane Doe"
HANDLE = "jane.bsky.example"
DID = "did:plc:abcdefghijklmnopqrstuvwx"
OTHER_DID = "did:plc:zyxwvutsrqponmlkjihgfedc"
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with running_server() as running:
        yield running


def post(rkey: str, text: str, at: datetime, **options):
    return bluesky_post_view(DID, HANDLE, rkey, text, created_at=at, **options)


@pytest.fixture
def bluesky(server: LocalHttpServer) -> FakeBluesky:
    fake = FakeBluesky(server, {HANDLE: DID, "bob.bsky.example": OTHER_DID})
    items = fake.state.items
    for n in range(120):
        items.append(
            bluesky_item(
                post(f"3k{n:04d}", f"Standalone post {n} on evaluation sets and recall.", START + timedelta(hours=n))
            )
        )
    # A thread of the author's own: the root and two replies to themselves.
    root = post("3thread0", "A thread on chunking, 1/3: cut where the author paused.", START + timedelta(days=10))
    second = post(
        "3thread1",
        "2/3: sentences, then paragraphs, then sections.",
        START + timedelta(days=10, minutes=1),
        reply_to=root,
    )
    third = post(
        "3thread2",
        "3/3: the longer write-up is at example.com/chunk…",
        START + timedelta(days=10, minutes=2),
        reply_to=second,
        root=root,
        links=(("example.com/chunk…", "https://example.com/chunking-guide"),),
        alts=("A diagram of a document cut into chunks",),
    )
    items += [bluesky_item(root), bluesky_item(second, parent=root), bluesky_item(third, parent=second, root=root)]
    # Not kept: a repost, and a reply in someone else's thread.
    theirs = bluesky_post_view(OTHER_DID, "bob.bsky.example", "3bob0", "Bob's question about RAG?", created_at=START)
    items.append(bluesky_repost(theirs, DID, HANDLE, START + timedelta(days=11)))
    mine = post("3reply0", "My answer to Bob, in his thread.", START + timedelta(days=11, hours=1), reply_to=theirs)
    items.append(bluesky_item(mine, parent=theirs))
    return fake


def crawl(settings, bluesky: FakeBluesky, run_id: str = "run-1", actor: str = HANDLE, **overrides) -> CrawlReport:
    source = {"platform": "bluesky", "account": actor}
    [target] = plan_targets({"author": AUTHOR, "posts": [source]}, settings.sources_file)
    tuned = settings.model_copy(update={"bluesky_appview_url": bluesky.base_url, **overrides})
    with Fetcher(tuned) as fetcher, mongo_database(settings) as db:
        return crawl_target(db, fetcher, target, run_id)


def test_feed_paged_by_cursor_threads_joined_reposts_skipped(settings, mongo_db, bluesky) -> None:
    report = crawl(settings, bluesky)

    assert (report.new, report.failed) == (121, 0)  # 120 posts and one thread
    hits = bluesky.feed_hits()
    assert len(hits) == 3 and "cursor" not in hits[0] and hits[1]["cursor"]
    assert all(hit["actor"] == [HANDLE] and hit["filter"] == ["posts_and_author_threads"] for hit in hits)
    thread = mongo_db.posts.find_one({"post.platform_id": f"at://{DID}/app.bsky.feed.post/3thread0"})
    assert thread["url"] == f"https://bsky.app/profile/{DID}/post/3thread0"
    assert thread["content"] == (
        "A thread on chunking, 1/3: cut where the author paused.\n\n"
        "2/3: sentences, then paragraphs, then sections.\n\n"
        "3/3: the longer write-up is at https://example.com/chunking-guide\n\n"
        "Image: A diagram of a document cut into chunks"
    )
    assert [part["id"].rsplit("/", 1)[1] for part in thread["post"]["parts"]] == ["3thread0", "3thread1", "3thread2"]
    assert thread["language"] == "en" and thread["platform"] == "bluesky"
    assert mongo_db.posts.count_documents({"content": {"$regex": "Bob"}}) == 0


def test_second_crawl_stops_at_the_newest_known_post(settings, mongo_db, bluesky) -> None:
    crawl(settings, bluesky)
    before = {d["_id"]: d["version"] for d in mongo_db.posts.find()}
    asked = len(bluesky.feed_hits())

    report = crawl(settings, bluesky, "run-2")

    assert (report.new, report.updated) == (0, 0)
    assert len(bluesky.feed_hits()) == asked + 1  # the first page reaches what is stored
    assert {d["_id"]: d["version"] for d in mongo_db.posts.find()} == before


def test_a_new_reply_updates_its_thread_and_a_deleted_post_is_gone(settings, mongo_db, bluesky) -> None:
    crawl(settings, bluesky)
    items = bluesky.state.items
    root = next(i["post"] for i in items if i["post"]["uri"].endswith("/3thread0"))
    fourth = post("3thread3", "4/3: one more thing, overlap a sentence.", START + timedelta(days=12), reply_to=root)
    items.append(bluesky_item(fourth, parent=root))
    deleted = next(i for i in items if i["post"]["uri"].endswith("/3k0119"))
    items.remove(deleted)

    report = crawl(settings, bluesky, "run-2")

    assert (report.new, report.updated) == (0, 1)
    thread = mongo_db.posts.find_one({"post.platform_id": root["uri"]})
    assert thread["version"] == 2 and thread["content"].endswith("4/3: one more thing, overlap a sentence.")
    gone = mongo_db.posts.find_one({"post.platform_id": deleted["post"]["uri"]})
    assert gone["validation"]["status"] == DocumentStatus.GONE
    # The others on the page stay as they were.
    assert mongo_db.posts.count_documents({"validation.status": DocumentStatus.GONE.value}) == 1


def test_spent_rate_limit_and_429(settings, mongo_db, bluesky) -> None:
    bluesky.state.remaining = 2
    bluesky.state.reset_at = datetime.now(UTC) + timedelta(seconds=300)
    with pytest.raises(TransientFetchError, match="rate limit"):
        crawl(settings, bluesky)
    assert len(bluesky.feed_hits()) == 2

    reset = str(int(time.time()) + 120)
    bluesky.faults = [
        Reply(
            status=429,
            body=b'{"error":"RateLimitExceeded"}',
            content_type="application/json",
            headers={"ratelimit-remaining": "0", "ratelimit-reset": reset},
        )
    ]
    with pytest.raises(TransientFetchError) as raised:
        crawl(settings, bluesky, "run-2")
    assert 100 < raised.value.retry_after_s <= 120


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Reply(body=b'{"feed": [', content_type="application/json"), "invalid JSON"),
        (Reply(body=b"<!doctype html><title>Bluesky</title>", content_type="text/html"), "HTML page where"),
        (Reply(body=b'{"feed": {"not": "a list"}}', content_type="application/json"), "should be a list"),
        (Reply(body=b'{"feed": [{"post": "text"}]}', content_type="application/json"), "should be a dict"),
    ],
)
def test_bad_answers_are_recorded_errors(settings, mongo_db, bluesky, fault, reason) -> None:
    bluesky.faults = [fault]
    report = crawl(settings, bluesky)
    assert report.failed_sources == 1
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    assert reason in error["reason"] and error["url"] == f"bluesky:{HANDLE}"


def test_unknown_actor_is_a_clear_error(settings, mongo_db, bluesky) -> None:
    report = crawl(settings, bluesky, actor="nobody.bsky.example")
    assert report.failed_sources == 1
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    assert "HTTP 400" in error["reason"]


def test_an_account_that_asks_not_to_be_shown_logged_out_is_not_crawled(settings, mongo_db, bluesky) -> None:
    for item in bluesky.state.items:
        if item["post"]["author"]["did"] == DID:
            item["post"]["author"]["labels"] = [
                {"src": DID, "uri": f"at://{DID}/app.bsky.actor.profile/self", "val": "!no-unauthenticated"}
            ]
    report = crawl(settings, bluesky)
    assert (report.failed_sources, mongo_db.posts.count_documents({})) == (1, 0)
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    assert "!no-unauthenticated" in error["reason"]


def test_page_budget_leaves_the_history_for_the_next_crawl(settings, mongo_db, bluesky) -> None:
    first = crawl(settings, bluesky, posts_max_pages=1)
    assert first.new == 47  # the first page: 50 items, a repost and the thread's three posts as one
    second = crawl(settings, bluesky, "run-2", posts_max_pages=2)  # the top page, then the history
    assert (second.new, second.updated) == (50, 0)
    third = crawl(settings, bluesky, "run-3", posts_max_pages=2)
    assert third.new == 24 and mongo_db.posts.count_documents({}) == 121
    asked = len(bluesky.feed_hits())
    crawl(settings, bluesky, "run-4", posts_max_pages=2)
    assert len(bluesky.feed_hits()) == asked + 1  # nothing left below: the top page only
