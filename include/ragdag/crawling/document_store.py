"""Write crawled documents to MongoDB: upsert by normalized URL, never duplicate, version changes.

Where a document lives and which statuses it goes through is :mod:`ragdag.documents`; this module
only ever sets a new or changed document to pending. Unchanged content keeps whatever status the
document has, so a quarantined page crawled again unchanged stays quarantined.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from ragdag.crawling.fetching.url_safety import loggable_url
from ragdag.documents import STATUS_FIELD, DocumentRecord, DocumentStatus, ValidationState, collection_name
from ragdag.models import Category, author_id, content_hash, document_id
from ragdag.stores.mongo import AUTHORS, CRAWL_ERRORS

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

log = logging.getLogger(__name__)

CRAWLER_VERSION = "1"
# Fields that let the next crawl skip work (a conditional GET, a repository's HEAD commit): kept
# current even when the content is unchanged, when nothing else is written.
PAGE_VALIDATORS = ("http.etag", "http.last_modified")


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
    validators: tuple[str, ...] = PAGE_VALIDATORS,
) -> WriteOutcome:
    """Store one document under its normalized ``url``.

    Unchanged content writes nothing (not even the crawl time) but new ``validators``, so the next
    crawl can still skip the work; changed content updates in place, bumps ``version`` and sends
    the document back to validation.
    """
    crawled_at = crawled_at or datetime.now(UTC)
    doc_id = document_id(url)
    digest = content_hash(content)
    collection = db[collection_name(category)]
    wanted = ("content_hash", "version", "first_crawled_at", STATUS_FIELD, *validators)
    existing = collection.find_one({"_id": doc_id}, dict.fromkeys(wanted, 1))
    # A gone document seen again (a post made public again) is crawled anew, even unchanged.
    revived = existing is not None and _dotted(existing, STATUS_FIELD) == DocumentStatus.GONE
    if existing is not None and existing.get("content_hash") == digest and not revived:
        _refresh_validators(collection, existing, {**fields, "http": http}, validators)
        log.info("unchanged: %s has the stored content (same hash), nothing rewritten", loggable_url(url))
        return WriteOutcome.UNCHANGED
    aid = upsert_author(db, author_full_name)
    # Validated here (the shape the crawler owns); the extracted fields ride along unchecked,
    # for the validation suites to judge.
    record = DocumentRecord(
        **{**fields, "_id": doc_id},
        url=url,
        category=category,
        platform=platform,
        author_id=aid,
        author_full_name=author_full_name,
        content=content,
        content_hash=digest,
        crawled_at=crawled_at,
        http=http,
        crawler_version=CRAWLER_VERSION,
        version=1 if existing is None else int(existing.get("version", 1)) + 1,
        first_crawled_at=crawled_at if existing is None else existing.get("first_crawled_at", crawled_at),
        validation=ValidationState(),
    )
    body = record.stored()
    if existing is None:
        try:
            collection.insert_one(body)
        except DuplicateKeyError:
            # Another task stored the same URL a moment ago (a feed and a sitemap of one blog
            # crawled in parallel): that fresh copy stands.
            log.info("duplicate skipped: %s was stored by another task meanwhile, that copy stands", loggable_url(url))
            return WriteOutcome.UNCHANGED
        return WriteOutcome.NEW
    # A whole replacement: the crawler owns the document, and new content voids whatever later
    # stages noted on it (a validation, a quarantine). It also keeps datetimes datetimes on the
    # embedded server, whose $set stores them as strings. Guarded on the hash we read, so two
    # racing writers bump once.
    del body["_id"]
    result = collection.replace_one({"_id": doc_id, "content_hash": existing.get("content_hash")}, body)
    return WriteOutcome.UPDATED if result.matched_count else WriteOutcome.UNCHANGED


def _dotted(document: dict[str, Any] | None, path: str) -> Any:
    for key in path.split("."):
        document = document.get(key) if isinstance(document, dict) else None
    return document


def _refresh_validators(
    collection: Collection, existing: dict[str, Any], current: dict[str, Any], names: tuple[str, ...]
) -> None:
    changed = {
        name: _dotted(current, name)
        for name in names
        if _dotted(current, name) not in (None, _dotted(existing, name))
        # MongoDB cannot $set "http.etag" inside an "http" that is null.
        and ("." not in name or isinstance(existing.get(name.split(".", 1)[0]), dict))
    }
    if changed:
        collection.update_one({"_id": existing["_id"]}, {"$set": changed})


def mark_gone(db: Database, category: Category, document_ids: list[str], *, at: datetime | None = None) -> int:
    """Mark these documents gone (their source deleted them): they keep their record, leave the
    accepted set, and the feature stage removes their chunks. Returns how many were marked."""
    at = at or datetime.now(UTC)
    collection = db[collection_name(category)]
    marked = 0
    for doc_id in document_ids:
        existing = collection.find_one({"_id": doc_id})
        if existing is None or _dotted(existing, STATUS_FIELD) == DocumentStatus.GONE:
            continue
        existing["validation"] = {
            **(existing.get("validation") or {}),
            "status": DocumentStatus.GONE.value,
            "gone_at": at,
        }
        # Replaced whole, guarded on the version read (see upsert_document).
        result = collection.replace_one({"_id": doc_id, "content_hash": existing.get("content_hash")}, existing)
        marked += result.matched_count
    return marked


def stored_fields(db: Database, category: Category, url: str, *names: str) -> dict[str, Any]:
    """Some fields of the document stored for ``url`` (normalized), or {} when there is none."""
    found = db[collection_name(category)].find_one({"_id": document_id(url)}, dict.fromkeys(names, 1))
    return found or {}


def record_crawl_error(db: Database, *, url: str, author_full_name: str, reason: str, run_id: str | None) -> None:
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
