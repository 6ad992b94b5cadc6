"""What one run of the feature stage did: returned to the DAG, put on the Asset event, kept in ``runs``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.stages import Stage

if TYPE_CHECKING:
    from pymongo.database import Database

STAGE = Stage.EMBED


class EmbeddingReport(BaseModel):
    run_id: str
    embedding_model: str
    feature_version: str  # model + cleaning + chunking rules; a change rebuilds every document
    documents_embedded: int = 0  # new or changed documents cleaned, chunked, embedded, written
    documents_skipped: int = 0  # unchanged since they were stored: not re-embedded
    documents_empty: int = 0  # validated, but nothing left to embed after cleaning
    documents_deleted: int = 0  # no longer accepted (or gone) in MongoDB: removed from Qdrant
    chunks_written: int = 0
    # stale chunks of changed documents, chunks of deleted ones, and chunks a killed run left
    chunks_deleted: int = 0
    documents_total: int = 0  # in Qdrant after the run
    chunks_total: int = 0
    retrieval_hit_rate: float | None = None  # share of sampled documents found in the top k chunks
    retrieval_sample_size: int = 0
    retrieval_k: int = 5
    retrieval_reused: bool = False  # nothing changed: the rate of the run that built this index
    # Secrets and personal data masked before chunking in the documents this run embedded, by kind
    # (email, phone, card, iban, ssn, secret:<type>; ragdag.text_safety).
    masked: dict[str, int] = {}
    seconds: float = 0.0

    @property
    def changed_store(self) -> bool:
        return bool(self.documents_embedded or self.documents_deleted or self.chunks_written or self.chunks_deleted)


def record_run(db: Database, report: EmbeddingReport) -> None:
    """Keep the report in the run's record (:mod:`ragdag.observability.run_records`, the one writer of ``runs``)."""
    from ragdag.observability.run_records import record_stage_report

    record_stage_report(db, STAGE, report.run_id, {**report.model_dump(mode="json"), "finished_at": datetime.now(UTC)})


def last_evaluation(db: Database, report: EmbeddingReport) -> dict[str, Any] | None:
    """The latest run that measured retrieval on an index like this one (same recipe and size)."""
    from ragdag.observability.run_records import latest_stage_report

    return latest_stage_report(
        db,
        STAGE,
        {
            "feature_version": report.feature_version,
            "documents_total": report.documents_total,
            "chunks_total": report.chunks_total,
            "retrieval_k": report.retrieval_k,
            "retrieval_hit_rate": {"$ne": None},
        },
    )
