"""The audit trail: who did what, when and why (quarantine releases, model promotions, overrides).

One collection, one record shape, one writer. People act through the CLI (the OS user), the
Airflow UI plugin or the REST API (the Airflow user); either way the actor is named.
"""

from __future__ import annotations

import getpass
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ragdag.stores.mongo import AUDIT_TRAIL

if TYPE_CHECKING:
    from pymongo.database import Database


class AuditAction(StrEnum):
    QUARANTINE_RELEASE = "quarantine.release"
    MODEL_PROMOTE = "model.promote"
    MODEL_ARCHIVE = "model.archive"
    RUN_OVERRIDE = "run.override"


class AuditEvent(BaseModel):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    action: AuditAction
    subject: str  # the id of what was acted on: a document, a model, a DAG run
    actor: str
    reason: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    details: dict[str, Any] = Field(default_factory=dict)


def default_actor() -> str:
    """The OS user, for actions taken from the command line."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def record_audit(
    db: Database,
    action: AuditAction,
    subject: str,
    *,
    actor: str | None,
    reason: str,
    details: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> AuditEvent:
    """Append one event; with ``event_id``, at most once (a retried task records it again harmlessly)."""
    event = AuditEvent(
        action=action, subject=subject, actor=actor or default_actor(), reason=reason, details=details or {}
    )
    if event_id:
        event.id = event_id
        if db[AUDIT_TRAIL].find_one({"_id": event_id}, {"_id": 1}) is not None:
            return event
    from pymongo.errors import DuplicateKeyError

    try:
        db[AUDIT_TRAIL].insert_one({"_id": event.id, **event.model_dump(mode="python", exclude={"id"})})
    except DuplicateKeyError:  # a concurrent task of the same run recorded it first
        pass
    return event


def list_audit(db: Database, *, subject: str | None = None, action: AuditAction | None = None) -> list[AuditEvent]:
    query: dict[str, Any] = {}
    if subject:
        query["subject"] = subject
    if action:
        query["action"] = action.value
    docs = db[AUDIT_TRAIL].find(query).sort("at", 1)
    return [AuditEvent.model_validate({**d, "id": d["_id"]}) for d in docs]
