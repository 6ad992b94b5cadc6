"""The quarantine: documents that failed validation, kept whole with the reasons, until released.

A failing document is MOVED: its full stored form goes to the ``quarantine`` collection with its
category, failed expectations and run, then it is deleted from its own collection, so nothing
downstream sees it and nothing is silently dropped. Releasing puts it back with validation
status ``released`` (accepted like ``validated``) and notes who released it and when.
"""

from __future__ import annotations

import getpass
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.models import RAGDAG_NAMESPACE, Category
from ragdag.settings import Settings
from ragdag.stores.mongo import QUARANTINE, mongo_database

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.validation.gate import FailedExpectation

QUARANTINED = "quarantined"
RELEASED = "released"


class QuarantineError(RuntimeError):
    """A quarantine operation that cannot be done as asked."""


class QuarantineEntry(BaseModel):
    id: str
    document_id: str
    category: Category
    url: str | None
    failed_expectations: list[str]
    run_id: str
    quarantined_at: datetime | None
    status: str


def quarantine_id(document_id: str, content_hash: Any, run_id: str) -> str:
    # Deterministic, so a retried task overwrites its own record instead of adding a second one.
    return str(uuid.uuid5(RAGDAG_NAMESPACE, f"quarantine:{document_id}:{content_hash}:{run_id}"))


def move_to_quarantine(
    db: Database,
    *,
    category: Category,
    document: dict[str, Any],
    failures: list[FailedExpectation],
    suite: str,
    suite_version: int,
    run_id: str,
    at: datetime,
) -> bool:
    """Move one pending document to the quarantine; False if it changed meanwhile (left pending)."""
    doc_id = document["_id"]
    qid = quarantine_id(str(doc_id), document.get("content_hash"), run_id)
    record = {
        "_id": qid,  # repeated from the filter: some MongoDB-compatible servers ignore it on upsert
        "document_id": doc_id,
        "category": category.value,
        "url": document.get("url"),
        "content_hash": document.get("content_hash"),
        "document": document,
        "failed_expectations": [f.model_dump(mode="json") for f in failures],
        "suite": suite,
        "suite_version": suite_version,
        "run_id": run_id,
        "quarantined_at": at,
        "status": QUARANTINED,
    }
    # Copy first, delete second: a crash in between leaves a duplicate, never a lost document.
    db[QUARANTINE].replace_one({"_id": qid}, record, upsert=True)
    deleted = db[category.value].delete_one(
        {"_id": doc_id, "content_hash": document.get("content_hash"), "validation.status": "pending"}
    )
    if deleted.deleted_count:
        return True
    # The crawler stored a new version after we read it; that version will be validated next run.
    db[QUARANTINE].delete_one({"_id": qid})
    return False


def _entry(record: dict[str, Any]) -> QuarantineEntry:
    return QuarantineEntry(
        id=str(record["_id"]),
        document_id=str(record.get("document_id")),
        category=Category(record["category"]),
        url=record.get("url"),
        failed_expectations=[f.get("name", "?") for f in record.get("failed_expectations") or []],
        run_id=str(record.get("run_id")),
        quarantined_at=record.get("quarantined_at"),
        status=str(record.get("status")),
    )


def list_quarantined(
    settings: Settings, *, category: Category | None = None, include_released: bool = False
) -> list[QuarantineEntry]:
    """Quarantined documents, oldest first (released ones only when asked)."""
    query: dict[str, Any] = {} if include_released else {"status": QUARANTINED}
    if category is not None:
        query["category"] = category.value
    with mongo_database(settings) as db:
        records = list(db[QUARANTINE].find(query, {"document": 0}))
    entries = [_entry(record) for record in records]
    # ISO text sorts like the time and never mixes naive and aware datetimes in one comparison.
    return sorted(entries, key=lambda e: (e.quarantined_at.isoformat() if e.quarantined_at else "~", e.id))


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers often run as a uid with no passwd entry
        return "unknown"


def release_quarantined(
    settings: Settings, quarantine_id: str, released_by: str | None = None
) -> QuarantineEntry:
    """Put a quarantined document back, with validation status ``released``."""
    with mongo_database(settings) as db:
        return release(db, quarantine_id, released_by or _who())


def release(db: Database, qid: str, released_by: str) -> QuarantineEntry:
    record = db[QUARANTINE].find_one({"_id": qid})
    if record is None:
        raise QuarantineError(f"no quarantine record {qid!r}; `ragdag quarantine list` shows the ids")
    if record.get("status") != QUARANTINED:
        raise QuarantineError(f"{qid} is already {record.get('status')}: {record.get('release')}")
    document: dict[str, Any] = record["document"]
    now = datetime.now(UTC)
    validation = {
        "status": RELEASED,
        "suite": record.get("suite"),
        "suite_version": record.get("suite_version"),
        "run_id": record.get("run_id"),
        "content_hash": document.get("content_hash"),
        "quarantine_id": qid,
        "failed_expectations": [f.get("name") for f in record.get("failed_expectations") or []],
        "released_at": now,
        "released_by": released_by,
    }
    collection = db[record["category"]]
    existing = collection.find_one({"_id": document["_id"]}, {"content_hash": 1})
    if existing is None:
        from pymongo.errors import DuplicateKeyError

        try:
            collection.insert_one({**document, "validation": validation})
        except DuplicateKeyError as error:
            raise QuarantineError(
                f"{qid}: {document.get('url')} was stored again while releasing; retry the release"
            ) from error
    elif existing.get("content_hash") == document.get("content_hash"):
        collection.update_one({"_id": document["_id"]}, {"$set": {"validation": validation}})
    else:
        raise QuarantineError(
            f"{qid}: {document.get('url')} was crawled again since it was quarantined and its new "
            "version awaits validation; releasing the old version would overwrite it"
        )
    # A sub-document, not top-level fields: keeps the datetime a datetime on every server.
    db[QUARANTINE].update_one(
        {"_id": qid}, {"$set": {"status": RELEASED, "release": {"at": now, "by": released_by}}}
    )
    record["status"] = RELEASED
    return _entry(record)
