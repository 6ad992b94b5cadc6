"""Validation stage: Great Expectations suites gate the documents between crawling and embedding.

``validate_pending_documents(settings, run_id)`` is what the DAG calls; the next stages read only
documents matching :func:`ragdag.documents.accepted_filter` (validated, or released from the
quarantine by a person).
Nothing here imports Great Expectations at import time.
"""

from ragdag.validation.gate import ValidationGateFailed
from ragdag.validation.quarantine import list_quarantined, release_quarantined
from ragdag.validation.stage import ValidationReport, validate_pending_documents

__all__ = [
    "ValidationGateFailed",
    "ValidationReport",
    "list_quarantined",
    "release_quarantined",
    "validate_pending_documents",
]
