"""Crawl one HTML page (an article): fetch politely, extract, store."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ragdag.crawling.document_store import WriteOutcome, stored_fields, upsert_document
from ragdag.crawling.extraction import extract_article
from ragdag.crawling.extraction.html_decoding import looks_binary
from ragdag.crawling.fetching.fetcher import PermanentFetchError
from ragdag.crawling.fetching.url_safety import normalize_url
from ragdag.models import Category

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext
    from ragdag.crawling.fetching.fetcher import FetchResult


def platform_of(url: str) -> str:
    """``medium`` for https://www.medium.com/..., the address itself for an IP host."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.split(".")[-2] if host.count(".") >= 1 else host


def fetch_known(ctx: CrawlContext, category: Category, url: str, **options: Any) -> FetchResult:
    """Fetch ``url``, sending the validators of its stored copy so an unchanged page costs a 304."""
    try:
        normalized = normalize_url(url)
    except ValueError as exc:
        raise PermanentFetchError(url, str(exc)) from exc
    known = stored_fields(ctx.db, category, normalized, "http").get("http") or {}
    return ctx.fetcher.fetch(normalized, etag=known.get("etag"), last_modified=known.get("last_modified"), **options)


def _refuse_binary(page: FetchResult) -> None:
    # An image or archive served as text/html extracts to nothing: storing it would make an
    # empty article that validation rejects on every crawl.
    head = page.content[:8192]
    nul = head.count(b"\0")
    if nul or looks_binary(head):
        detail = f"{nul} NUL bytes" if nul else "mostly control bytes"
        raise PermanentFetchError(
            page.url,
            f"binary body ({detail} in the first {len(head)} bytes) served as "
            f"{page.content_type or 'no content type'!r}, not an HTML page; link the article itself",
            status=page.status,
        )


def store_page(ctx: CrawlContext, category: Category, page: FetchResult) -> WriteOutcome:
    """Extract a fetched HTML page and store it under its final URL, after redirects: an alias
    (an old slug, a short link) updates the page it points to instead of making a copy of it."""
    article = extract_article(page.content, url=page.final_url)
    if not article.content.strip():
        _refuse_binary(page)
    return upsert_document(
        ctx.db,
        category=category,
        url=page.final_url,
        author_full_name=ctx.author_full_name,
        platform=platform_of(page.final_url),
        content=article.content,
        fields={
            "title": article.title,
            "published_at": article.published_at,
            "language": article.language,
            "source_author": article.author,
        },
        http={
            "status": page.status,
            "requested_url": page.url,
            "final_url": page.final_url,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "content_type": page.content_type,
        },
        crawled_at=page.fetched_at,
    )


def _crawl_html(ctx: CrawlContext, category: Category, url: str) -> list[WriteOutcome]:
    page = fetch_known(ctx, category, url)
    return [WriteOutcome.UNCHANGED if page.not_modified else store_page(ctx, category, page)]


def crawl_article(ctx: CrawlContext, url: str) -> list[WriteOutcome]:
    """Crawl a page that must be HTML (a feed's article); a 304 writes nothing."""
    return _crawl_html(ctx, Category.ARTICLES, url)
