"""The document lifecycle: where crawled documents live, the statuses they go through, what is accepted.

Every stage asks this module instead of spelling a collection name or a status:

- **Collections.** One MongoDB collection per :class:`~ragdag.models.Category`, named by its value
  (``articles``, ``posts``, ``repositories``): :func:`collection_name`, :data:`DOCUMENT_COLLECTIONS`.
  Quarantine records (why a version of a document was refused) are in :data:`QUARANTINE`.
- **Statuses** (``validation.status`` of a stored document, :class:`DocumentStatus`)::

      crawled (new or changed) ─► pending ─► validated
                                        └──► quarantined ─► released (a person accepted it)
      any status ─► gone (its source says it no longer exists: a deleted post)

  A gone document keeps its record but leaves the next stages (it is not accepted), so the
  feature stage's reconciliation removes its chunks; seen again, it is crawled anew (pending).

  A document never leaves its collection: a quarantined one keeps its content and content hash, so
  re-crawling it unchanged leaves it quarantined (not new, not pending); changed content sends any
  document back to ``pending``.
- **Accepted** (what features and datasets may read): :data:`ACCEPTED_STATUSES`,
  :func:`accepted_filter`.
- **The stored shape**: :class:`DocumentRecord` with its :class:`ValidationState`, and a post's
  :class:`PostDetails`.

Writes that change a status replace the whole document, guarded by its content hash and current
status: the transition happens only on the version that was checked, and datetimes stay datetimes
on every MongoDB-compatible server (the embedded one stores a top-level ``$set`` datetime as text).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragdag.models import RAGDAG_NAMESPACE, Category, HttpMetadata

DOCUMENT_COLLECTIONS: tuple[str, ...] = tuple(category.value for category in Category)
QUARANTINE = "quarantine"
STATUS_FIELD = "validation.status"


class DocumentStatus(StrEnum):
    PENDING = "pending"  # new or changed content, not checked yet
    VALIDATED = "validated"  # passed its category's suite
    QUARANTINED = "quarantined"  # failed it; kept, with a quarantine record saying why
    RELEASED = "released"  # quarantined, then accepted by a person (audited)
    GONE = "gone"  # its source no longer has it (a deleted post); out of the next stages


# What the next stages may read: released documents were accepted by a person.
ACCEPTED_STATUSES: tuple[DocumentStatus, ...] = (DocumentStatus.VALIDATED, DocumentStatus.RELEASED)


class QuarantineStatus(StrEnum):
    """State of one quarantine record (one version of one document)."""

    QUARANTINED = "quarantined"  # the document is held at this version
    RELEASED = "released"  # a person accepted this version
    SUPERSEDED = "superseded"  # the page changed since; the new version is checked afresh


def collection_name(category: Category | str) -> str:
    return Category(category).value


def status_filter(*statuses: DocumentStatus) -> dict[str, Any]:
    """MongoDB filter for documents in one of ``statuses``."""
    values = [str(status) for status in statuses]
    return {STATUS_FIELD: values[0] if len(values) == 1 else {"$in": values}}


def accepted_filter() -> dict[str, Any]:
    """MongoDB filter for documents the next stages may use."""
    return {STATUS_FIELD: {"$in": [str(status) for status in ACCEPTED_STATUSES]}}


def pending_filter() -> dict[str, Any]:
    return status_filter(DocumentStatus.PENDING)


def due_for_validation_filter(suite_version: int) -> dict[str, Any]:
    """MongoDB filter for what the validation stage checks: pending documents, and validated ones
    an older version of their suite passed (a bumped suite judges them again). Quarantined and
    released documents wait for a person or for a new version of the page."""
    return {
        "$or": [
            pending_filter(),
            {**status_filter(DocumentStatus.VALIDATED), "validation.suite_version": {"$lt": suite_version}},
        ]
    }


def quarantine_id(document_id: str, content_hash: Any) -> str:
    """One record per document version: re-crawling or re-validating it never adds another."""
    return str(uuid.uuid5(RAGDAG_NAMESPACE, f"quarantine:{document_id}:{content_hash}"))


class ValidationState(BaseModel):
    """``validation`` of a stored document: its status and what decided it."""

    model_config = ConfigDict(extra="allow", use_enum_values=True)

    status: DocumentStatus = DocumentStatus.PENDING
    content_hash: str | None = None  # the version the decision was made on
    suite: str | None = None
    suite_version: int | None = None
    run_id: str | None = None
    validated_at: datetime | None = None
    quarantine_id: str | None = None
    quarantined_at: datetime | None = None
    failed_expectations: list[str] | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None
    gone_at: datetime | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# Groups of the stored document's fields (see `DocumentRecord`), for the stages that read only some.
# What was crawled: the page or repository, its author and what extraction found in it.
CRAWLED_FIELDS = (
    "url",
    "category",
    "platform",
    "author_id",
    "author_full_name",
    "title",
    "published_at",
    "language",
    "content",
    "files",
    "post",  # posts only: where the post comes from (PostDetails)
)
# Which version of it this is.
VERSION_FIELDS = ("content_hash", "version")
# When and by what it was crawled.
CRAWL_BOOKKEEPING_FIELDS = ("crawled_at", "first_crawled_at", "crawler_version")


class PostPart(BaseModel):
    """One post of a thread the author wrote as several replies to themselves."""

    id: str
    created_at: datetime | None = None
    text: str


class PostDetails(BaseModel):
    """``post`` of a stored document of ``posts``: where the post comes from and what it holds
    beside its text (the text, the content warning and the media descriptions are the content)."""

    model_config = ConfigDict(extra="allow")

    source: str  # the posts source (ragdag.crawling.sources.post_sources.source_key)
    platform_id: str  # the post's id on its platform (status id, at:// URI, tweet id, share link)
    created_at: datetime | None = None
    edited_at: datetime | None = None
    content_warning: str | None = None  # Mastodon's spoiler_text
    media_descriptions: list[str] = Field(default_factory=list)  # alt text of attached images
    links: list[str] = Field(default_factory=list)  # the links it carries, expanded
    visibility: str | None = None
    # A thread by the author alone: its posts in order (the first is the thread's own id).
    parts: list[PostPart] = Field(default_factory=list)


class DocumentRecord(BaseModel):
    """A crawled document as stored in its category's collection (``_id`` is
    :func:`ragdag.models.document_id` of the normalized URL).

    The extracted fields (title, dates, language, files) are typed ``Any`` on purpose: the
    validation suites check them, so a wrong type must reach a suite (and the quarantine) instead
    of failing here.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    url: str
    category: Category
    platform: str
    author_id: str
    author_full_name: str
    content: str
    content_hash: str
    version: int = 1
    crawled_at: datetime
    first_crawled_at: datetime
    crawler_version: str
    http: HttpMetadata | None = None
    title: Any = None
    published_at: Any = None
    language: Any = None
    files: Any = None
    post: PostDetails | None = None
    validation: ValidationState = Field(default_factory=ValidationState)

    def stored(self) -> dict[str, Any]:
        """The MongoDB document: ``_id`` first, the category as its text, ``validation`` compact
        (``post`` only on posts)."""
        body = self.model_dump(by_alias=True, exclude={"validation"} | ({"post"} if self.post is None else set()))
        body["category"] = Category(self.category).value
        body["validation"] = self.validation.stored()
        return body
