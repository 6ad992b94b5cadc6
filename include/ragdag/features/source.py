"""Reading the documents to embed from MongoDB: validated (or released) ones, in bounded pages.

Pages are read by ``_id`` ranges (keyset pagination), not one long cursor: each page is a short
query, so no cursor idles (and times out) while the previous page is being embedded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragdag.documents import (
    CRAWLED_FIELDS,
    DOCUMENT_COLLECTIONS,
    VERSION_FIELDS,
    accepted_filter,
    collection_name,
)
from ragdag.models import Category

if TYPE_CHECKING:
    from pymongo.database import Database

# The validation stage decides what passed its gate; the features read exactly that.
_EMBEDDABLE = accepted_filter()
# What the features need; leaves out HTTP metadata and crawl bookkeeping.
_FEATURE_FIELDS = dict.fromkeys((*CRAWLED_FIELDS, *VERSION_FIELDS), 1)


@dataclass(frozen=True)
class DocumentRef:
    """Enough of a document to decide whether it needs embedding."""

    document_id: str
    category: Category
    content_hash: str


def iter_document_refs(db: Database, page: int) -> Iterator[list[DocumentRef]]:
    """Every embeddable document of every category, ``page`` at a time, ids and hashes only."""
    for category in Category:
        last_id: Any = None
        while True:
            query: dict[str, Any] = dict(_EMBEDDABLE)
            if last_id is not None:
                query["_id"] = {"$gt": last_id}
            rows = list(db[collection_name(category)].find(query, {"content_hash": 1}).sort("_id", 1).limit(page))
            if rows:
                yield [DocumentRef(str(r["_id"]), category, str(r.get("content_hash", ""))) for r in rows]
            if len(rows) < page:
                break
            last_id = rows[-1]["_id"]


def fetch_documents(db: Database, category: Category, document_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The full records of these documents that are still embeddable."""
    if not document_ids:
        return []
    query = {"_id": {"$in": list(document_ids)}, **_EMBEDDABLE}
    return list(db[collection_name(category)].find(query, _FEATURE_FIELDS))


def embeddable_ids(db: Database, category: str, document_ids: Sequence[str]) -> set[str]:
    """Which of these ids are still embeddable documents of ``category``."""
    if category not in DOCUMENT_COLLECTIONS or not document_ids:
        return set()
    query = {"_id": {"$in": list(document_ids)}, **_EMBEDDABLE}
    return {str(r["_id"]) for r in db[collection_name(category)].find(query, {"_id": 1})}
