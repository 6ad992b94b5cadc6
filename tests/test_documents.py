"""ragdag.documents: the one owner of collections, statuses, the accepted filter and the stored shape."""

from __future__ import annotations

from datetime import UTC, datetime

from ragdag.documents import (
    ACCEPTED_STATUSES,
    CRAWL_BOOKKEEPING_FIELDS,
    CRAWLED_FIELDS,
    DOCUMENT_COLLECTIONS,
    VERSION_FIELDS,
    DocumentRecord,
    DocumentStatus,
    ValidationState,
    accepted_filter,
    pending_filter,
    quarantine_id,
)
from ragdag.models import Category


def test_accepted_means_validated_or_released_on_a_real_server(mongo_db) -> None:
    for status in DocumentStatus:
        mongo_db.articles.insert_one(
            {
                "_id": status.value,
                "url": f"https://x.test/{status}",
                "validation": ValidationState(status=status).stored(),
            }
        )
    assert {d["_id"] for d in mongo_db.articles.find(accepted_filter())} == {"validated", "released"}
    assert {d["_id"] for d in mongo_db.articles.find(pending_filter())} == {"pending"}
    assert set(ACCEPTED_STATUSES) == {DocumentStatus.VALIDATED, DocumentStatus.RELEASED}
    assert DOCUMENT_COLLECTIONS == tuple(c.value for c in Category)


def test_a_quarantine_id_names_a_document_version_not_a_run() -> None:
    assert quarantine_id("doc", "hash-a") == quarantine_id("doc", "hash-a")
    assert quarantine_id("doc", "hash-a") != quarantine_id("doc", "hash-b") != quarantine_id("other", "hash-b")


def test_a_stored_document_keeps_extracted_fields_for_the_suites_to_judge() -> None:
    now = datetime.now(UTC)
    record = DocumentRecord(
        _id="d1",
        url="https://x.test/a",
        category=Category.POSTS,
        platform="x",
        author_id="a",
        author_full_name="A",
        content="text",
        content_hash="h",
        crawled_at=now,
        first_crawled_at=now,
        crawler_version="1",
        title=20240101,
        source_author="someone",  # a wrong type and a field the model does not name
    )
    stored = record.stored()
    assert stored["_id"] == "d1" and stored["category"] == "posts" and stored["title"] == 20240101
    assert stored["source_author"] == "someone" and stored["crawled_at"] is now
    assert stored["validation"] == {"status": "pending"}


def test_the_field_groups_split_the_stored_document_without_overlap() -> None:
    groups = (*CRAWLED_FIELDS, *VERSION_FIELDS, *CRAWL_BOOKKEEPING_FIELDS)
    assert len(groups) == len(set(groups))
    # Every stored field is in a group, except the id, the HTTP metadata and the validation state.
    assert set(groups) == set(DocumentRecord.model_fields) - {"id", "http", "validation"}
