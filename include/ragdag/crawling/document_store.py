"""Write crawled documents to MongoDB: upsert by normalized URL, never duplicate, version changes."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ragdag.models import Category, author_id, content_hash, document_id
from ragdag.stores.mongo import AUTHORS, CRAWL_ERRORS

if TYPE_CHECKING:
    from pymongo.database import Database

CRAWLER_VERSION = "1"


class WriteOutcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


def upsert_author(db: Database, full_name: str) -> str:
    aid = author_id(full_name)
    first, _, last = full_name.partition(" ")
    db[AUTHORS].update_one(
        {"_id": aid},
        {"$setOnInsert": {"full_name": full_name, "first_name": first, "last_name": last}},
        upsert=True,
    )
    return aid


def upsert_document(
    db: Database,
    *,
    category: Category,
    url: str,
    author_full_name: str,
    platform: str,
    content: str,
    fields: dict[str, Any],
    http: dict[str, Any] | None,
    crawled_at: datetime | None = None,
) -> WriteOutcome:
    """Store one document under its normalized ``url``.

    Unchanged content writes nothing (not even the crawl time), changed content updates in place,
    bumps ``version`` and sends the document back to validation.
    """
    crawled_at = crawled_at or datetime.now(UTC)
    doc_id = document_id(url)
    digest = content_hash(content)
    collection = db[category.value]
    existing = collection.find_one({"_id": doc_id}, {"content_hash": 1, "version": 1})
    if existing is not None and existing.get("content_hash") == digest:
        return WriteOutcome.UNCHANGED
    aid = upsert_author(db, author_full_name)
    body = {
        **fields,
        "url": url,
        "category": category.value,
        "platform": platform,
        "author_id": aid,
        "author_full_name": author_full_name,
        "content": content,
        "content_hash": digest,
        "crawled_at": crawled_at,
        "http": http,
        "crawler_version": CRAWLER_VERSION,
        "validation": {"status": "pending"},
    }
    if existing is None:
        collection.insert_one({"_id": doc_id, **body, "version": 1, "first_crawled_at": crawled_at})
        return WriteOutcome.NEW
    # Guard on the hash we read so two writers racing on one URL cannot both bump the version.
    result = collection.update_one(
        {"_id": doc_id, "content_hash": existing.get("content_hash")},
        {"$set": body, "$inc": {"version": 1}},
    )
    return WriteOutcome.UPDATED if result.matched_count else WriteOutcome.UNCHANGED


def record_crawl_error(
    db: Database, *, url: str, author_full_name: str, reason: str, run_id: str | None
) -> None:
    db[CRAWL_ERRORS].update_one(
        {"url": url, "run_id": run_id},
        {
            "$set": {
                "author_full_name": author_full_name,
                "reason": reason,
                "recorded_at": datetime.now(UTC),
            }
        },
        upsert=True,
    )
