"""Where each posts source's crawl stopped: the ``post_cursors`` collection, one record per source.

The next crawl starts from here, so it asks only for what is new: Mastodon's newest seen status id
(``min_id``) and, while the first crawl's history is still being read, the id to continue below
(``max_id``); Bluesky's newest seen post time (its feed has no ``since``) and the feed cursor of
the history still to read; an archive's SHA-256
(an unchanged file is not read again). Nothing else reads or writes the collection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pymongo.database import Database

POST_CURSORS = "post_cursors"


class PostCursor(BaseModel):
    """One source's position; ``_id`` is :func:`ragdag.crawling.sources.post_sources.source_key`."""

    model_config = ConfigDict(populate_by_name=True)

    key: str = Field(alias="_id")
    account_id: str | None = None  # Mastodon's account id, Bluesky's DID: resolved once
    newest_id: str | None = None  # Mastodon: newest status id stored
    backfill_max_id: str | None = None  # Mastodon: the history below this id is still to be read
    newest_at: datetime | None = None  # Bluesky: newest post time (indexedAt) stored
    backfill_cursor: str | None = None  # Bluesky: the feed's cursor where the history is still to be read
    archive_sha256: str | None = None  # LinkedIn / X: the archive last read in full
    updated_at: datetime | None = None


def load_cursor(db: Database, key: str) -> PostCursor:
    found = db[POST_CURSORS].find_one({"_id": key})
    return PostCursor.model_validate(found) if found else PostCursor(key=key)


def save_cursor(db: Database, cursor: PostCursor) -> None:
    """Store the whole record (a replacement keeps datetimes datetimes on the embedded server)."""
    cursor.updated_at = datetime.now(UTC)
    body = cursor.model_dump(by_alias=True)
    db[POST_CURSORS].replace_one({"_id": cursor.key}, body, upsert=True)
