"""Semantic search over the embedded chunks, and a retrieval check of the index.

The check samples stored documents, builds a query from each (its title, else a sentence from the
middle of its text) and counts the documents found among the top ``k`` chunks. Title queries test
real retrieval; sentence queries mostly test that ids, vectors and payloads line up.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ragdag.features.embedding import Embedder, load_embedder
from ragdag.features.vector_store import ScoredChunk, nearest_chunks, sample_documents
from ragdag.models import Category
from ragdag.settings import Settings
from ragdag.stores.qdrant import qdrant_client

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

DEFAULT_K = 5
DEFAULT_SAMPLE_SIZE = 50
_MIN_TITLE_WORDS = 3
_MIN_SENTENCE_WORDS = 6
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class SearchHit(BaseModel):
    score: float
    document_id: str
    chunk_index: int
    text: str
    url: str | None = None
    author_full_name: str | None = None
    category: str | None = None


class RetrievalEvaluation(BaseModel):
    hit_rate: float | None  # None when there is nothing to evaluate
    sample_size: int
    hits: int
    k: int
    missed_queries: list[str] = []


def _category(category: str | None) -> str | None:
    if not category:
        return None
    try:
        return Category(category).value
    except ValueError:
        choices = ", ".join(c.value for c in Category)
        raise ValueError(f"unknown category {category!r}: use one of {choices}") from None


def _hit(point: ScoredChunk) -> SearchHit:
    payload = point.payload
    return SearchHit(
        score=point.score,
        document_id=str(payload.get("document_id")),
        chunk_index=int(payload.get("chunk_index", -1)),
        text=str(payload.get("text", "")),
        url=payload.get("url"),
        author_full_name=payload.get("author_full_name"),
        category=payload.get("category"),
    )


def search_with(
    client: QdrantClient,
    embedder: Embedder,
    query: str,
    *,
    k: int = DEFAULT_K,
    author: str | None = None,
    category: str | None = None,
) -> list[SearchHit]:
    if not query.strip():
        raise ValueError("empty query: give the text to search for")
    if k < 1:
        raise ValueError(f"k={k}: ask for at least one result")
    category = _category(category)
    vector = embedder.embed([query], batch_size=1)[0]
    (points,) = nearest_chunks(client, [vector.tolist()], k, author_full_name=author, category=category)
    return [_hit(point) for point in points]


def search(
    settings: Settings,
    query: str,
    k: int = DEFAULT_K,
    author: str | None = None,
    category: str | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks closest to ``query``, optionally of one author (full name) or category."""
    embedder = load_embedder(settings)
    with qdrant_client(settings) as client:
        return search_with(client, embedder, query, k=k, author=author, category=category)


def evaluation_query(title: str | None, text: str) -> str | None:
    """The title when it says something, else a sentence from the middle of the text."""
    title = " ".join((title or "").split())
    if len(title.split()) >= _MIN_TITLE_WORDS:
        return title
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if len(s.split()) >= _MIN_SENTENCE_WORDS]
    return sentences[len(sentences) // 2] if sentences else None


def evaluate_with(
    client: QdrantClient,
    embedder: Embedder,
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    k: int = DEFAULT_K,
    batch_size: int = 64,
) -> RetrievalEvaluation:
    queries = [
        (p.id, query)
        for p in sample_documents(client, sample_size)
        if (query := evaluation_query(p.payload.get("title"), p.payload.get("text", "")))
    ]
    if not queries:
        return RetrievalEvaluation(hit_rate=None, sample_size=0, hits=0, k=k)
    vectors = embedder.embed([q for _, q in queries], batch_size=batch_size)
    found = nearest_chunks(client, [v.tolist() for v in vectors], k, payload=["document_id"])
    missed = [
        query
        for (document_id, query), points in zip(queries, found, strict=True)
        if document_id not in {p.payload.get("document_id") for p in points}
    ]
    hits = len(queries) - len(missed)
    return RetrievalEvaluation(
        hit_rate=hits / len(queries),
        sample_size=len(queries),
        hits=hits,
        k=k,
        missed_queries=missed,
    )


def evaluate_retrieval(settings: Settings, sample_size: int = DEFAULT_SAMPLE_SIZE, k: int = DEFAULT_K) -> float | None:
    """Share of sampled documents whose own query finds them in the top ``k`` chunks."""
    embedder = load_embedder(settings)
    with qdrant_client(settings) as client:
        evaluation = evaluate_with(
            client, embedder, sample_size=sample_size, k=k, batch_size=settings.embedding_batch_size
        )
    return evaluation.hit_rate
