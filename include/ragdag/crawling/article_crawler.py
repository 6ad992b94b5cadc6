"""Crawl one article page: fetch politely, extract the main content, store it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ragdag.crawling.document_store import WriteOutcome, upsert_document
from ragdag.crawling.extraction import extract_article
from ragdag.crawling.url_safety import normalize_url
from ragdag.models import Category

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.crawling.fetching import Fetcher


def platform_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host.split(".")[-2] if host.count(".") >= 1 else host


def crawl_article(db: Database, fetcher: Fetcher, url: str, author_full_name: str) -> WriteOutcome:
    normalized = normalize_url(url)
    known = db[Category.ARTICLES.value].find_one(
        {"url": normalized}, {"http.etag": 1, "http.last_modified": 1}
    )
    http_known = (known or {}).get("http") or {}
    page = fetcher.fetch(
        normalized, etag=http_known.get("etag"), last_modified=http_known.get("last_modified")
    )
    if page.not_modified:
        return WriteOutcome.UNCHANGED
    article = extract_article(page.content, url=page.final_url)
    return upsert_document(
        db,
        category=Category.ARTICLES,
        url=normalized,
        author_full_name=author_full_name,
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
            "final_url": page.final_url,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "content_type": page.content_type,
        },
        crawled_at=page.fetched_at,
    )
