"""What the posts crawlers share: a post as read from any platform, how it is stored, which of a
source's stored posts are gone, and JSON over the crawler's polite, SSRF-checked fetcher.

A post's document lives in ``posts`` under its public URL; its content is the text the author
wrote, with the content warning first and the media descriptions (alt text) after it, because
all three are the author's words. Where it came from and the rest are its ``post`` field
(:class:`ragdag.documents.PostDetails`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ragdag.crawling.document_store import WriteOutcome, mark_gone, upsert_document
from ragdag.crawling.extraction.html_text import element_text
from ragdag.crawling.extraction.html_tree import parse_html
from ragdag.crawling.extraction.language import detect_language, iso639_1
from ragdag.crawling.fetching.fetcher import PermanentFetchError, TransientFetchError, parse_content_type
from ragdag.crawling.fetching.rate_limit_headers import requests_remaining, seconds_until_reset
from ragdag.documents import DocumentStatus, PostDetails, PostPart, collection_name
from ragdag.models import Category

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext

log = logging.getLogger(__name__)

JSON_ACCEPT = "application/json"
# A rate-limit window that resets sooner than this is waited for in-process; a later one stops
# the source, and the task's retry (after Airflow's retry_delay) goes on from the saved cursor.
MAX_RATE_LIMIT_WAIT_S = 5.0


@dataclass
class Post:
    """One post (or one thread of the author's own posts) as read from its platform."""

    platform: str
    platform_id: str
    url: str
    text: str
    created_at: datetime | None = None
    edited_at: datetime | None = None
    language: str | None = None
    content_warning: str | None = None
    media_descriptions: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    visibility: str | None = None
    parts: list[PostPart] = field(default_factory=list)

    def content(self) -> str:
        """The stored text: content warning, the post (or its thread's posts), image descriptions."""
        blocks = []
        if self.content_warning:
            blocks.append(f"Content warning: {self.content_warning}")
        if self.parts:
            blocks += [part.text for part in self.parts if part.text.strip()]
        elif self.text.strip():
            blocks.append(self.text.strip())
        blocks += [f"Image: {alt}" for alt in self.media_descriptions if alt.strip()]
        return "\n\n".join(blocks)


def html_to_text(html: str | None) -> str:
    """A post's HTML (Mastodon's ``content``) as text, with the extraction stage's own rendering:
    a paragraph per ``<p>``, ``<br>`` kept as a line break, link texts in full."""
    if not html or not html.strip():
        return ""
    root = parse_html(f"<html><body>{html}</body></html>")
    return "" if root is None else element_text(root)


def store_post(ctx: CrawlContext, source: str, post: Post) -> WriteOutcome:
    """Store one post under its URL; an edit (new text, new alt text) updates its document."""
    content = post.content()
    if not content.strip():
        return WriteOutcome.UNCHANGED  # nothing the author wrote (an image without a description)
    details = PostDetails(
        source=source,
        platform_id=post.platform_id,
        created_at=post.created_at,
        edited_at=post.edited_at,
        content_warning=post.content_warning or None,
        media_descriptions=[alt for alt in post.media_descriptions if alt.strip()],
        links=post.links,
        visibility=post.visibility,
        parts=post.parts,
    )
    return upsert_document(
        ctx.db,
        category=Category.POSTS,
        url=post.url,
        author_full_name=ctx.author_full_name,
        platform=post.platform,
        content=content,
        fields={
            "title": None,
            "published_at": post.created_at,
            "language": iso639_1(post.language) or detect_language(content),
            "post": details.model_dump(),
        },
        http=None,
        validators=(),
    )


@dataclass(frozen=True)
class StoredPost:
    document_id: str
    platform_id: str
    created_at: datetime | None
    status: str | None
    parts: list[dict[str, Any]]


def stored_posts(ctx: CrawlContext, source: str) -> list[StoredPost]:
    """The posts stored for ``source`` (gone ones included)."""
    # Whole sub-documents: the embedded server does not project dotted paths.
    rows = ctx.db[collection_name(Category.POSTS)].find({"post.source": source}, {"post": 1, "validation": 1})
    return [
        StoredPost(
            document_id=str(row["_id"]),
            platform_id=str(row["post"]["platform_id"]),
            created_at=row["post"].get("created_at"),
            status=(row.get("validation") or {}).get("status"),
            parts=list(row["post"].get("parts") or []),
        )
        for row in rows
    ]


def stored_parts(ctx: CrawlContext, source: str, platform_id: str) -> list[PostPart]:
    """The thread parts already stored for one post, to merge the new replies into."""
    row = ctx.db[collection_name(Category.POSTS)].find_one(
        {"post.source": source, "post.platform_id": platform_id}, {"post": 1}
    )
    return [PostPart.model_validate(part) for part in ((row or {}).get("post") or {}).get("parts") or []]


def mark_missing_gone(ctx: CrawlContext, source: str, candidates: Iterable[StoredPost], seen_ids: set[str]) -> int:
    """Mark gone the stored posts among ``candidates`` that the platform no longer lists."""
    doomed = [
        post.document_id
        for post in candidates
        if post.platform_id not in seen_ids and post.status != DocumentStatus.GONE
    ]
    marked = mark_gone(ctx.db, Category.POSTS, doomed) if doomed else 0
    if marked:
        log.info("%s: %d stored posts no longer listed by the platform, marked gone", source, marked)
    return marked


@dataclass(frozen=True)
class JsonPage:
    url: str
    data: Any
    headers: Mapping[str, str]


class JsonApi:
    """GET JSON from one API host through the crawl's fetcher (robots.txt, per-host delay, SSRF
    guard, size cap), honouring its rate-limit headers: when the window is spent, the next request
    waits for the reset if it is near, and otherwise stops with a retry-later error."""

    def __init__(self, ctx: CrawlContext, *, headers: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.headers = dict(headers or {})
        self.requests = 0
        self._reset_at: float | None = None  # monotonic time the spent window resets

    def get(self, url: str) -> JsonPage:
        self._wait_for_window(url)
        page = self.ctx.fetcher.fetch(url, accept=JSON_ACCEPT, require_html=False, headers=self.headers)
        self.requests += 1
        remaining = requests_remaining(page.headers)
        if remaining is not None and remaining <= 0:
            reset = seconds_until_reset(page.headers)
            self._reset_at = time.monotonic() + (reset if reset is not None else MAX_RATE_LIMIT_WAIT_S)
        media_type, _ = parse_content_type(page.content_type)
        if media_type in ("text/html", "application/xhtml+xml") or page.content.lstrip()[:1] == b"<":
            raise PermanentFetchError(
                page.url,
                f"an HTML page where the API's JSON was expected (content type {media_type or 'missing'!r}); "
                "check that the account's server runs this platform's API",
                status=page.status,
            )
        try:
            data = json.loads(page.content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PermanentFetchError(
                page.url,
                f"the API answered invalid JSON ({exc.__class__.__name__}: {str(exc)[:120]})",
                status=page.status,
            ) from None
        return JsonPage(url=page.final_url, data=data, headers=page.headers)

    def _wait_for_window(self, url: str) -> None:
        if self._reset_at is None:
            return
        wait = self._reset_at - time.monotonic()
        self._reset_at = None
        if wait <= 0:
            return
        if wait > MAX_RATE_LIMIT_WAIT_S:
            raise TransientFetchError(
                url,
                f"the API's rate limit is spent for {wait:.0f} s more (its rate-limit headers); retry later",
                retry_after_s=wait,
            )
        log.info("rate limit spent: waiting %.1f s for the window to reset", wait)
        time.sleep(wait)


def expect(data: Any, kind: type, url: str, what: str) -> Any:
    """``data`` when it is of ``kind``; otherwise a clear error naming what the API sent."""
    if not isinstance(data, kind):
        raise PermanentFetchError(
            url, f"unexpected API answer: {what} should be a {kind.__name__}, got {type(data).__name__}"
        )
    return data
