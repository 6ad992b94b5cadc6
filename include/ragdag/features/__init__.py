"""The feature stage: clean, chunk and embed validated documents into Qdrant; search them.

Exports resolve lazily so that importing the package (DAG parsing) loads no model, torch or client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragdag.features.pipeline import embed_validated_documents
    from ragdag.features.report import EmbeddingReport
    from ragdag.features.retrieval import SearchHit, evaluate_retrieval, search

_EXPORTS = {
    "embed_validated_documents": "ragdag.features.pipeline",
    "EmbeddingReport": "ragdag.features.report",
    "SearchHit": "ragdag.features.retrieval",
    "evaluate_retrieval": "ragdag.features.retrieval",
    "search": "ragdag.features.retrieval",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
