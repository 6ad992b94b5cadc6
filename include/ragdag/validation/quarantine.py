"""The quarantine: documents that failed validation, held with the reasons until a person releases them.

A failing document stays in its own collection with status ``quarantined`` (and the content hash it
failed at, see :mod:`ragdag.documents`), so nothing downstream reads it, nothing is dropped, and the
crawler finds it again: re-crawled unchanged it stays quarantined; changed, it goes back to pending
and is judged afresh. Its ``quarantine`` record (one per document version, id
:func:`ragdag.documents.quarantine_id`) keeps what it failed, against which suite, first and last run.

Releasing accepts that version (status ``released``, which the next stages read like ``validated``),
records who and why in the audit trail, and marks the record released. The service functions
:func:`list_quarantined` and :func:`release_quarantined` are what the CLI and the UI call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.documents import (
    QUARANTINE,
    DocumentStatus,
    QuarantineStatus,
    ValidationState,
    collection_name,
    due_for_validation_filter,
    quarantine_id,
    status_filter,
)
from ragdag.errors import PermanentError
from ragdag.models import Category
from ragdag.observability.audit import AuditAction, default_actor, record_audit
from ragdag.settings import Settings
from ragdag.stores.mongo import mongo_database
from ragdag.validation.reports import data_docs_index_key

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.validation.gate import FailedExpectation

__all__ = [
    "QuarantineEntry",
    "QuarantineError",
    "QuarantineNotFound",
    "hold_in_quarantine",
    "list_quarantined",
    "quarantine_id",
    "release",
    "release_quarantined",
    "supersede_records",
]


class QuarantineError(PermanentError, RuntimeError):
    """A quarantine operation that cannot be done as asked."""


class QuarantineNotFound(QuarantineError, LookupError):
    """No quarantine record with that id."""


class QuarantineEntry(BaseModel):
    id: str
    document_id: str
    category: Category
    url: str | None
    title: str | None = None
    content_hash: str | None
    failed_expectations: list[str]
    run_id: str  # the run that quarantined this version
    data_docs_key: str | None = None  # that run's Data Docs index in the object store
    quarantined_at: datetime | None
    status: QuarantineStatus
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None


def hold_in_quarantine(
    db: Database,
    *,
    category: Category,
    document: dict[str, Any],
    failures: list[FailedExpectation],
    suite: str,
    suite_version: int,
    run_id: str,
    at: datetime,
) -> str | None:
    """Quarantine one document due for validation where it is; its quarantine id, or None if it
    changed meanwhile (then it stays pending for the next run)."""
    doc_id = str(document["_id"])
    digest = document.get("content_hash")
    qid = quarantine_id(doc_id, digest)
    names = [f.name for f in failures]
    validation = ValidationState(
        status=DocumentStatus.QUARANTINED,
        content_hash=digest,
        suite=suite,
        suite_version=suite_version,
        run_id=run_id,
        quarantine_id=qid,
        quarantined_at=at,
        failed_expectations=names,
    )
    previous = db[QUARANTINE].find_one({"_id": qid})
    record = {
        "document_id": doc_id,
        "category": category.value,
        "url": document.get("url"),
        "title": document.get("title"),
        "content_hash": digest,
        "failed_expectations": [f.model_dump(mode="json") for f in failures],
        "suite": suite,
        "suite_version": suite_version,
        # The same version quarantined again (a retry, or a page that changed back) keeps its
        # first quarantine's run and time.
        "run_id": (previous or {}).get("run_id", run_id),
        "quarantined_at": (previous or {}).get("quarantined_at", at),
        "last_run_id": run_id,
        "status": QuarantineStatus.QUARANTINED.value,
    }
    # The record first, the status second: a crash in between leaves the document pending (the
    # next run rewrites the same record), never quarantined without a record to release it by.
    _put(db, qid, record)
    replaced = db[collection_name(category)].replace_one(
        {"_id": document["_id"], "content_hash": digest, **due_for_validation_filter(suite_version)},
        {**{k: v for k, v in document.items() if k != "_id"}, "validation": validation.stored()},
    )
    if replaced.matched_count:
        return qid
    # The crawler stored a new version after we read it: that one is validated next run.
    if previous is None:
        db[QUARANTINE].delete_one({"_id": qid})
    else:
        _put(db, qid, {k: v for k, v in previous.items() if k != "_id"})
    return None


def _put(db: Database, qid: str, record: dict[str, Any]) -> None:
    # replace_one(upsert=True) ignores the filter's _id on some servers: replace, else insert.
    if db[QUARANTINE].replace_one({"_id": qid}, record).matched_count:
        return
    from pymongo.errors import DuplicateKeyError

    try:
        db[QUARANTINE].insert_one({"_id": qid, **record})
    except DuplicateKeyError:  # a concurrent writer inserted it first
        db[QUARANTINE].replace_one({"_id": qid}, record)


def supersede_records(db: Database, category: Category, documents: list[dict[str, Any]]) -> int:
    """Mark the held records of other versions of these (pending) documents superseded: the page
    changed, and its new version is judged on its own."""
    current = {str(doc["_id"]): doc.get("content_hash") for doc in documents}
    held = db[QUARANTINE].find(
        {
            "document_id": {"$in": list(current)},
            "category": category.value,
            "status": QuarantineStatus.QUARANTINED.value,
        },
        {"document_id": 1, "content_hash": 1},
    )
    stale = [r["_id"] for r in held if r.get("content_hash") != current.get(str(r.get("document_id")))]
    if not stale:
        return 0
    update = {"$set": {"status": QuarantineStatus.SUPERSEDED.value}}
    return db[QUARANTINE].update_many({"_id": {"$in": stale}}, update).modified_count


def _entry(record: dict[str, Any]) -> QuarantineEntry:
    release_info = record.get("release") or {}
    return QuarantineEntry(
        id=str(record["_id"]),
        document_id=str(record.get("document_id")),
        category=Category(record["category"]),
        url=record.get("url"),
        title=record.get("title"),
        content_hash=record.get("content_hash"),
        failed_expectations=[f.get("name", "?") for f in record.get("failed_expectations") or []],
        run_id=str(record.get("run_id")),
        data_docs_key=data_docs_index_key(
            str(record.get("last_run_id") or record.get("run_id")), Category(record["category"])
        ),
        quarantined_at=record.get("quarantined_at"),
        status=QuarantineStatus(record.get("status", QuarantineStatus.QUARANTINED)),
        released_by=release_info.get("by"),
        released_at=release_info.get("at"),
        release_reason=release_info.get("reason"),
    )


def list_quarantined(
    settings: Settings, *, category: Category | None = None, include_released: bool = False
) -> list[QuarantineEntry]:
    """Documents held in the quarantine, oldest first (released and superseded ones only when asked)."""
    query: dict[str, Any] = {} if include_released else {"status": QuarantineStatus.QUARANTINED.value}
    if category is not None:
        query["category"] = category.value
    with mongo_database(settings) as db:
        records = list(db[QUARANTINE].find(query))
    entries = [_entry(record) for record in records]
    # ISO text sorts like the time and never mixes naive and aware datetimes in one comparison.
    return sorted(entries, key=lambda e: (e.quarantined_at.isoformat() if e.quarantined_at else "~", e.id))


def release_quarantined(
    settings: Settings, quarantine_id: str, *, released_by: str | None = None, reason: str
) -> QuarantineEntry:
    """Accept a quarantined document version: status ``released``, audited with who and why."""
    with mongo_database(settings) as db:
        return release(db, quarantine_id, released_by or default_actor(), reason)


def release(db: Database, qid: str, released_by: str, reason: str) -> QuarantineEntry:
    if not reason or not reason.strip():
        raise QuarantineError("say why the document is released (--reason): the audit trail keeps it")
    record = db[QUARANTINE].find_one({"_id": qid})
    if record is None:
        raise QuarantineNotFound(f"no quarantine record {qid!r}; `ragdag quarantine list` shows the ids")
    if record.get("status") != QuarantineStatus.QUARANTINED.value:
        raise QuarantineError(f"{qid} is already {record.get('status')}: {record.get('release')}")
    collection = db[record["category"]]
    document = collection.find_one({"_id": record["document_id"]})
    url = record.get("url")
    if document is None:
        raise QuarantineError(f"{qid}: {url} is no longer stored; nothing to release")
    if document.get("content_hash") != record.get("content_hash"):
        raise QuarantineError(
            f"{qid}: {url} was crawled again since it was quarantined and its new version awaits "
            "validation; releasing the old version would overwrite it"
        )
    now = datetime.now(UTC)
    held = ValidationState.model_validate(document.get("validation") or {})
    validation = held.model_copy(
        update={
            "status": DocumentStatus.RELEASED.value,
            "quarantine_id": qid,
            "released_at": now,
            "released_by": released_by,
            "release_reason": reason,
        }
    )
    replaced = collection.replace_one(
        {
            "_id": document["_id"],
            "content_hash": record.get("content_hash"),
            **status_filter(DocumentStatus.QUARANTINED),
        },
        {**{k: v for k, v in document.items() if k != "_id"}, "validation": validation.stored()},
    )
    if not replaced.matched_count:
        raise QuarantineError(f"{qid}: {url} changed while releasing; run `ragdag quarantine list` and retry")
    released = {
        **{k: v for k, v in record.items() if k != "_id"},
        "status": QuarantineStatus.RELEASED.value,
        "release": {"at": now, "by": released_by, "reason": reason},
    }
    db[QUARANTINE].replace_one({"_id": qid}, released)
    record_audit(
        db,
        AuditAction.QUARANTINE_RELEASE,
        str(document["_id"]),
        actor=released_by,
        reason=reason,
        details={
            "quarantine_id": qid,
            "category": record["category"],
            "url": url,
            "content_hash": record.get("content_hash"),
            "failed_expectations": [f.get("name") for f in record.get("failed_expectations") or []],
        },
    )
    return _entry({"_id": qid, **released})
