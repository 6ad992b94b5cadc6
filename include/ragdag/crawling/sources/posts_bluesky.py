"""A Bluesky account's own posts, through the public AppView's ``app.bsky.feed.getAuthorFeed``.

The feed is read newest first with ``filter=posts_and_author_threads`` and paged by ``cursor``;
there is no ``since``, so a later crawl stops at the first page that reaches the newest post it
stored (``post_cursors``; a first crawl's history beyond ``RAGDAG_POSTS_MAX_PAGES`` is read by the
next crawls from the cursor where it stopped), and the first page is always read again: a stored post missing from
the time range it covers was deleted and is marked gone (Bluesky has no edits).

Reposts (``reason`` of type ``reasonRepost``) are skipped. A reply is kept only in a thread the
author started: the thread is one document, its posts in order, stored under its first post.
Links appear in full where the text shows them shortened (the link facets), and image alt text
follows the text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ragdag.crawling.document_store import WriteOutcome
from ragdag.crawling.fetching.fetcher import PermanentFetchError
from ragdag.crawling.sources.post_cursors import load_cursor, save_cursor
from ragdag.crawling.sources.post_sources import BlueskyAccount, source_key
from ragdag.crawling.sources.posts import (
    JsonApi,
    Post,
    expect,
    mark_missing_gone,
    store_post,
    stored_parts,
    stored_posts,
)
from ragdag.documents import PostPart

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext

log = logging.getLogger(__name__)

PAGE_SIZE = 50
REPOST = "app.bsky.feed.defs#reasonRepost"
LINK_FACET = "app.bsky.richtext.facet#link"
# The self-label of an account that asks not to be shown to logged-out users.
NO_UNAUTHENTICATED = "!no-unauthenticated"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _utc(when: datetime | None) -> datetime | None:
    return None if when is None else (when if when.tzinfo else when.replace(tzinfo=UTC))


def text_with_links(record: dict[str, Any]) -> tuple[str, list[str]]:
    """The record's text with each link facet's shortened text replaced by its full URL."""
    text = str(record.get("text") or "")
    data = text.encode("utf-8")
    spans: list[tuple[int, int, str]] = []
    for facet in record.get("facets") or []:
        index = (facet or {}).get("index") or {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        for feature in (facet or {}).get("features") or []:
            uri = (feature or {}).get("uri")
            if (feature or {}).get("$type") == LINK_FACET and isinstance(uri, str):
                if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(data):
                    spans.append((start, end, uri))
    links = [uri for _, _, uri in spans]
    for start, end, uri in sorted(spans, reverse=True):  # from the end: earlier offsets stay valid
        data = data[:start] + uri.encode("utf-8") + data[end:]
    return data.decode("utf-8", errors="replace"), links


def _image_alts(record: dict[str, Any]) -> list[str]:
    embed = record.get("embed") or {}
    media = embed.get("media") or embed  # recordWithMedia carries its images under media
    return [str(image["alt"]) for image in media.get("images") or [] if isinstance(image, dict) and image.get("alt")]


def _external_link(record: dict[str, Any]) -> list[str]:
    external = (record.get("embed") or {}).get("external") or {}
    return [external["uri"]] if isinstance(external.get("uri"), str) else []


def post_url(uri: str) -> str:
    """``https://bsky.app/profile/<did>/post/<rkey>`` of ``at://<did>/app.bsky.feed.post/<rkey>``."""
    did, _, rkey = uri.removeprefix("at://").partition("/app.bsky.feed.post/")
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def _part(view: dict[str, Any]) -> tuple[PostPart, dict[str, Any]]:
    record = view.get("record") or {}
    text, _ = text_with_links(record)
    alts = _image_alts(record)
    body = "\n\n".join([text.strip(), *(f"Image: {alt}" for alt in alts)]).strip()
    return PostPart(id=str(view["uri"]), created_at=_time(record.get("createdAt")), text=body), record


def _merged(parts: list[PostPart]) -> list[PostPart]:
    by_id = {part.id: part for part in parts}
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(by_id.values(), key=lambda p: (_utc(p.created_at) or epoch, p.id))


class _Threads:
    """The posts of a page grouped by the thread they belong to (a post alone is a thread of one)."""

    def __init__(self, author_did: str | None) -> None:
        self.author_did = author_did
        self.roots: dict[str, dict[str, Any]] = {}  # root uri -> its post view
        self.parts: dict[str, list[PostPart]] = {}

    def add(self, item: dict[str, Any], url: str) -> None:
        post = expect(item.get("post"), dict, url, "a feed item's post")
        if not isinstance(post.get("uri"), str):
            raise PermanentFetchError(url, "unexpected API answer: a post without a uri")
        author = post.get("author") or {}
        did = author.get("did")
        if any((label or {}).get("val") == NO_UNAUTHENTICATED for label in author.get("labels") or []):
            raise PermanentFetchError(
                url, "the account asks not to be shown to logged-out users (!no-unauthenticated); remove the source"
            )
        if self.author_did is None:
            self.author_did = did
        if did != self.author_did:
            return
        root = post
        if (post.get("record") or {}).get("reply"):
            root = ((item.get("reply") or {}).get("root")) or {}
            if (root.get("author") or {}).get("did") != self.author_did or not isinstance(root.get("uri"), str):
                return  # a reply in someone else's thread
        self.roots.setdefault(root["uri"], root)
        parts = self.parts.setdefault(root["uri"], [])
        parts.append(_part(root)[0])
        if root is not post:
            parts.append(_part(post)[0])


@dataclass
class _Listing:
    """What one pass over the feed saw."""

    threads: _Threads
    next_cursor: str | None = None  # where the pass stopped with more to read, else None
    first_page_roots: set[str] = field(default_factory=set)
    first_page_oldest: datetime | None = None  # oldest root post on the first page
    newest_at: datetime | None = None


def _read_feed(
    api: JsonApi,
    url_of: Callable[[str | None], str],
    listing: _Listing,
    start: str | None,
    pages: int,
    known: datetime | None,
) -> int:
    """Read up to ``pages`` pages from ``start``, stopping at the first page that reaches ``known``
    (the newest post stored); return the pages read."""
    page_cursor = start
    for number in range(pages):
        url = url_of(page_cursor)
        data = expect(api.get(url).data, dict, url, "the feed page")
        feed = expect(data.get("feed", []), list, url, "feed")
        reached_known = False
        for item in feed:
            item = expect(item, dict, url, "a feed item")
            reason = item.get("reason")
            if isinstance(reason, dict) and reason.get("$type") == REPOST:
                continue
            view = expect(item.get("post"), dict, url, "a feed item's post")
            record = view.get("record") if isinstance(view.get("record"), dict) else {}
            indexed = _time(view.get("indexedAt"))
            if known is not None and indexed is not None and indexed <= known:
                reached_known = True
            listing.threads.add(item, url)
            if indexed is not None and (listing.newest_at is None or indexed > listing.newest_at):
                listing.newest_at = indexed
            if number == 0 and start is None:
                listing.first_page_roots = set(listing.threads.roots)
                created = _time(record.get("createdAt"))
                if created is not None and not record.get("reply"):
                    listing.first_page_oldest = min(filter(None, (listing.first_page_oldest, created)))
        page_cursor = data.get("cursor") if isinstance(data.get("cursor"), str) and feed else None
        if reached_known or page_cursor is None:
            listing.next_cursor = None
            return number + 1
        listing.next_cursor = page_cursor
    return pages


def crawl_bluesky(ctx: CrawlContext, account: BlueskyAccount) -> list[WriteOutcome]:
    """Read the account's feed: from the top down to the newest stored post, then, while a first
    crawl's history is unread, on from where the last crawl's page budget ran out."""
    source = source_key(account)
    cursor = load_cursor(ctx.db, source)
    api = JsonApi(ctx)
    base = (account.api_url or ctx.settings.bluesky_appview_url).rstrip("/")

    def url_of(page_cursor: str | None) -> str:
        query = {"actor": account.account, "limit": str(PAGE_SIZE), "filter": "posts_and_author_threads"}
        if page_cursor:
            query["cursor"] = page_cursor
        return f"{base}/xrpc/app.bsky.feed.getAuthorFeed?{urlencode(query)}"

    known = _utc(cursor.newest_at)
    listing = _Listing(_Threads(cursor.account_id))
    budget = ctx.settings.posts_max_pages
    used = _read_feed(api, url_of, listing, None, budget, known)
    if known is None:  # a first crawl: the history it did not reach is read by the next ones
        cursor.backfill_cursor = listing.next_cursor
    elif cursor.backfill_cursor and used < budget:
        history = _Listing(listing.threads)
        _read_feed(api, url_of, history, cursor.backfill_cursor, budget - used, None)
        cursor.backfill_cursor = history.next_cursor
    if cursor.backfill_cursor:
        log.info("%s: page budget (RAGDAG_POSTS_MAX_PAGES) spent; older posts on the next crawl", source)
    threads = listing.threads
    cursor.account_id = threads.author_did
    if listing.newest_at is not None and (known is None or listing.newest_at > known):
        cursor.newest_at = listing.newest_at
    outcomes = []
    for root_uri, parts in threads.parts.items():
        root = threads.roots[root_uri]
        merged = _merged(stored_parts(ctx, source, root_uri) + parts)
        _, record = _part(root)
        _, links = text_with_links(record)
        langs = record.get("langs") or []
        post = Post(
            platform="bluesky",
            platform_id=root_uri,
            url=post_url(root_uri),
            text="",
            created_at=_time(record.get("createdAt")),
            language=langs[0] if langs and isinstance(langs[0], str) else None,
            links=links + _external_link(record),
            parts=merged,
        )
        outcomes.append(store_post(ctx, source, post))
    if listing.first_page_oldest is not None:
        oldest = listing.first_page_oldest
        in_window = [p for p in stored_posts(ctx, source) if (_utc(p.created_at) or oldest) >= oldest]
        mark_missing_gone(ctx, source, in_window, listing.first_page_roots)
    save_cursor(ctx.db, cursor)
    return outcomes
