"""Stored documents -> the pandas DataFrame the suites check, with the derived columns they need.

Raw fields are kept exactly as stored (object dtype, no coercion) so that the type expectations see
what MongoDB holds. Checks that compare values (numbers, sets) run on derived columns instead,
which are null when the raw value has the wrong type: a wrong-typed field then fails its type
expectation alone instead of making a comparison raise inside GX.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ragdag.documents import CRAWL_BOOKKEEPING_FIELDS, CRAWLED_FIELDS, VERSION_FIELDS

if TYPE_CHECKING:
    import pandas as pd

INDEX_COLUMN = "document_id"
# Every stored field a suite may check (HTTP metadata and the validation state aside).
RAW_FIELDS = (*CRAWLED_FIELDS, *VERSION_FIELDS, *CRAWL_BOOKKEEPING_FIELDS)
DERIVED_COLUMNS = (
    "content_length",
    "non_letter_share",
    "language_code",
    "crawl_age_s",
    "duplicate_of",
    "malformed_files",
)


def non_letter_share(text: Any) -> float | None:
    """Share of non-whitespace characters that are not letters (any script); None if no text."""
    if not isinstance(text, str):
        return None
    visible = 0
    letters = 0
    for char in text:
        if not char.isspace():
            visible += 1
            letters += char.isalpha()
    return None if visible == 0 else 1 - letters / visible


def language_code(value: Any) -> str | None:
    """Primary language subtag in lower case (``en-US`` -> ``en``); None if absent or not text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.replace("_", "-").split("-")[0].strip().lower()


def crawl_age_seconds(crawled_at: Any, now: datetime) -> float | None:
    if not isinstance(crawled_at, datetime):
        return None
    # pymongo returns naive datetimes unless the client is tz_aware; MongoDB stores UTC either way.
    if crawled_at.tzinfo is None:
        crawled_at = crawled_at.replace(tzinfo=UTC)
    return (now - crawled_at).total_seconds()


def malformed_files(files: Any) -> int | None:
    if not isinstance(files, list):
        return None
    return sum(
        1
        for entry in files
        if not (
            isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("content"), str)
        )
    )


def _crawl_order(doc: Mapping[str, Any]) -> tuple[int, str, str]:
    first = doc.get("first_crawled_at")
    stamp = first.replace(tzinfo=first.tzinfo or UTC).isoformat() if isinstance(first, datetime) else ""
    # Documents without a usable first crawl time sort last: they cannot claim to be the original.
    return (0 if stamp else 1, stamp, str(doc.get("url")))


def find_duplicates(documents: Iterable[Mapping[str, Any]], validated_owners: Mapping[str, str]) -> dict[str, str]:
    """Map document id -> id of the copy it duplicates (same content hash, another document).

    An already validated document owns its hash; otherwise the earliest-crawled document of the
    batch does. Each later copy is a duplicate, so the original is never quarantined with them.
    """
    owners = dict(validated_owners)
    duplicates: dict[str, str] = {}
    for doc in sorted(documents, key=_crawl_order):
        digest = doc.get("content_hash")
        if not isinstance(digest, str):
            continue
        owner = owners.setdefault(digest, str(doc["_id"]))
        if owner != str(doc["_id"]):
            duplicates[str(doc["_id"])] = owner
    return duplicates


def documents_to_frame(
    documents: list[Mapping[str, Any]], *, now: datetime, validated_owners: Mapping[str, str]
) -> pd.DataFrame:
    """One row per document: ``document_id``, the raw fields, the derived columns."""
    import pandas as pd

    duplicates = find_duplicates(documents, validated_owners)
    rows = []
    for doc in documents:
        row: dict[str, Any] = {INDEX_COLUMN: str(doc["_id"])}
        row.update({name: doc.get(name) for name in RAW_FIELDS})
        content = doc.get("content")
        row["content_length"] = len(content) if isinstance(content, str) else None
        row["non_letter_share"] = non_letter_share(content)
        row["language_code"] = language_code(doc.get("language"))
        row["crawl_age_s"] = crawl_age_seconds(doc.get("crawled_at"), now)
        row["duplicate_of"] = duplicates.get(row[INDEX_COLUMN])
        row["malformed_files"] = malformed_files(doc.get("files"))
        rows.append(row)
    columns = [INDEX_COLUMN, *RAW_FIELDS, *DERIVED_COLUMNS]
    # object dtype: pandas would otherwise coerce (ints to floats, strings to its str dtype) and
    # the type expectations would check pandas' guess instead of the stored value.
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    for name in ("content_length", "non_letter_share", "crawl_age_s", "malformed_files"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame
