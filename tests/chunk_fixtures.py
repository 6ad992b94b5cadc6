"""Embedded chunks written straight into Qdrant (local mode), with the feature stage's payload."""

from __future__ import annotations

import random

from ragdag.features.vector_store import CHUNKS_COLLECTION as EMBEDDED_CHUNKS
from ragdag.models import chunk_point_id, content_hash, document_id

_SUBJECTS = (
    "Feature pipelines",
    "Vector indexes",
    "Validation suites",
    "Crawlers",
    "Embedding models",
    "Chunking rules",
    "Dataset versions",
    "Training jobs",
    "Retrieval checks",
    "Quarantine reviews",
)
_VERBS = ("keep", "protect", "refresh", "measure", "describe", "slow down", "simplify", "document", "repair", "split")
_OBJECTS = (
    "fresh embeddings",
    "the nightly batch",
    "duplicate pages",
    "stale chunks",
    "the search results",
    "every author's posts",
    "broken markup",
    "the test split",
    "model quality",
    "the object store",
)


def _prose(rng: random.Random, document: int, chunk: int) -> str:
    """Distinct English sentences per chunk: the dataset stage's filters keep them (no duplicates)."""
    sentences = [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} in week {rng.randint(1, 52)}."
        for _ in range(8)
    ]
    return f"Post {document} part {chunk}: " + " ".join(sentences)


def seed_chunks(settings, documents: int = 6, chunks_per_document: int = 3) -> list[str]:
    from qdrant_client import models

    from ragdag.stores.qdrant import qdrant_client

    rng = random.Random(0)
    doc_ids = []
    points = []
    for d in range(documents):
        doc_id = document_id(f"https://blog.test/post-{d}")
        doc_ids.append(doc_id)
        for c in range(chunks_per_document):
            text = _prose(rng, d, c)
            points.append(
                models.PointStruct(
                    id=chunk_point_id(doc_id, c, content_hash(text)),
                    vector=[rng.random() for _ in range(settings.embedding_dim)],
                    payload={
                        "document_id": doc_id,
                        "chunk_index": c,
                        "text": text,
                        "category": "articles",
                        "author_full_name": "Jane Doe",
                        "author_id": "a1",
                        "url": f"https://blog.test/post-{d}",
                        "content_hash": content_hash(f"doc {d}"),
                        "embedding_model": settings.embedding_model_id,
                    },
                )
            )
    with qdrant_client(settings) as client:
        if not client.collection_exists(EMBEDDED_CHUNKS):
            client.create_collection(
                EMBEDDED_CHUNKS,
                vectors_config=models.VectorParams(size=settings.embedding_dim, distance=models.Distance.COSINE),
            )
        client.upsert(EMBEDDED_CHUNKS, points)
    return doc_ids
