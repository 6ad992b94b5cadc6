"""A post its platform deleted is marked gone by the crawler; the next embed run removes its chunks
from Qdrant as it removes any document no longer accepted, and keeps the others'."""

from __future__ import annotations

import pytest

from ragdag.crawling.document_store import mark_gone, upsert_document
from ragdag.documents import STATUS_FIELD, DocumentStatus
from ragdag.features import embed_validated_documents
from ragdag.features.vector_store import iter_chunks
from ragdag.models import Category, document_id
from ragdag.stores.qdrant import qdrant_client

pytestmark = pytest.mark.slow  # loads the embedding model (once per session)

POSTS = [
    "Retrieval quality is mostly chunking quality: cut where the author paused, not every 512 tokens.",
    "We moved our embedding jobs to Airflow assets: a DAG runs when the documents it reads have changed.",
    "Keep a held-out question set for your RAG system and run it on every release; compare the numbers.",
]


def _chunked_documents(settings) -> dict[str, int]:
    counts: dict[str, int] = {}
    with qdrant_client(settings) as client:
        for chunk in iter_chunks(client):
            doc_id = str(chunk.payload["document_id"])
            counts[doc_id] = counts.get(doc_id, 0) + 1
    return counts


def test_a_gone_post_leaves_the_feature_store(settings, mongo_db, embedder) -> None:
    ids = []
    for n, text in enumerate(POSTS):
        url = f"https://mastodon.example/@jane/{n}"
        upsert_document(
            mongo_db,
            category=Category.POSTS,
            url=url,
            author_full_name="Jane Doe",
            platform="mastodon",
            content=text,
            fields={"language": "en", "post": {"source": "mastodon:@jane@mastodon.example", "platform_id": str(n)}},
            http=None,
            validators=(),
        )
        ids.append(document_id(url))
    mongo_db.posts.update_many({}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})
    embed_validated_documents(settings, "run-1", embedder=embedder)
    assert set(_chunked_documents(settings)) == set(ids)

    assert mark_gone(mongo_db, Category.POSTS, [ids[1]]) == 1
    report = embed_validated_documents(settings, "run-2", embedder=embedder)

    assert report.documents_deleted == 1
    assert set(_chunked_documents(settings)) == {ids[0], ids[2]}
    assert mongo_db.posts.find_one({"_id": ids[1]})["validation"]["status"] == DocumentStatus.GONE
