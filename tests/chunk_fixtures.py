"""Embedded chunks written straight into Qdrant (local mode), with the feature stage's payload."""

from __future__ import annotations

import random

from ragdag.models import chunk_point_id, content_hash, document_id

EMBEDDED_CHUNKS = "embedded_chunks"


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
            text = f"Post {d} part {c}: feature pipelines keep embeddings fresh and consistent. " * 3
            points.append(models.PointStruct(
                id=chunk_point_id(doc_id, c, content_hash(text)),
                vector=[rng.random() for _ in range(settings.embedding_dim)],
                payload={
                    "document_id": doc_id, "chunk_index": c, "text": text,
                    "category": "articles", "author_full_name": "Jane Doe", "author_id": "a1",
                    "url": f"https://blog.test/post-{d}", "content_hash": content_hash(f"doc {d}"),
                    "embedding_model": settings.embedding_model_id,
                },
            ))
    with qdrant_client(settings) as client:
        if not client.collection_exists(EMBEDDED_CHUNKS):
            client.create_collection(
                EMBEDDED_CHUNKS,
                vectors_config=models.VectorParams(size=settings.embedding_dim, distance=models.Distance.COSINE),
            )
        client.upsert(EMBEDDED_CHUNKS, points)
    return doc_ids
