"""The trigger gate: is there enough new or changed content for a new dataset version?

A version records the content hash of every document it was built from, and a hash of the
settings that shape it. The next build compares: documents added, removed or changed (content
hash), and whether those settings changed. Fewer than ``RAGDAG_DATASET_MIN_CHANGED_DOCUMENTS``
changed documents, and the same settings, means no new version. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel


class ContentChanges(BaseModel):
    previous_version: str | None
    added: list[str]
    removed: list[str]
    changed: list[str]
    settings_changed: bool

    @property
    def changed_documents(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)


def content_changes(
    previous_version: str | None,
    previous: Mapping[str, str] | None,
    current: Mapping[str, str],
    *,
    settings_changed: bool,
) -> ContentChanges:
    before = dict(previous or {})
    return ContentChanges(
        previous_version=previous_version,
        added=sorted(set(current) - set(before)),
        removed=sorted(set(before) - set(current)),
        changed=sorted(doc for doc in set(current) & set(before) if current[doc] != before[doc]),
        settings_changed=settings_changed,
    )


def build_decision(changes: ContentChanges, min_changed_documents: int) -> tuple[bool, str]:
    """(build?, why) — the reason is what the run log and the task's outcome say."""
    if changes.previous_version is None:
        return True, "no dataset version yet"
    count = changes.changed_documents
    detail = f"{len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed"
    if changes.settings_changed:
        return True, f"the dataset settings changed since {changes.previous_version} ({detail})"
    if count >= min_changed_documents:
        return True, f"{count} documents new or changed since {changes.previous_version} ({detail})"
    return False, (
        f"only {count} documents new or changed since {changes.previous_version} ({detail}); a new version needs "
        f"{min_changed_documents} (RAGDAG_DATASET_MIN_CHANGED_DOCUMENTS)"
    )
