"""The feature stage end to end: real MongoDB, Qdrant local mode in the test's data dir, the real model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragdag.crawling.document_store import upsert_document
from ragdag.crawling.extraction import ExtractedArticle, extract_article
from ragdag.documents import DOCUMENT_COLLECTIONS as DOCUMENT_NAMES
from ragdag.documents import STATUS_FIELD, DocumentStatus
from ragdag.features import embed_validated_documents, evaluate_retrieval, search
from ragdag.features.embedding import Embedder
from ragdag.features.pipeline import PipelineConfig, prepare_document
from ragdag.features.vector_store import (
    CHUNKS_COLLECTION,
    DOCUMENTS_COLLECTION,
    delete_documents,
    iter_chunks,
    iter_document_points,
)
from ragdag.models import Category, chunk_point_id, content_hash, document_id
from ragdag.observability.run_records import stage_reports
from ragdag.stores.qdrant import qdrant_client

pytestmark = pytest.mark.slow  # loads the embedding model (once per session)

PAGES = ("ars-1", "bbc-1", "cnet", "gitlab-blog", "nytimes-1", "theverge", "webmd-2")
REPO_ROOT = Path(__file__).resolve().parents[2]
CHUNK_PAYLOAD = {
    "author_id",
    "author_full_name",
    "category",
    "document_id",
    "url",
    "chunk_index",
    "text",
    "content_hash",
    "chunk_hash",
    "embedding_model",
}


@pytest.fixture(scope="module")
def articles(article_pages_dir: Path) -> dict[str, ExtractedArticle]:
    return {name: extract_article((article_pages_dir / name / "source.html").read_bytes()) for name in PAGES}


def _store(db, category: Category, url: str, content: str, author: str = "Jane Doe", **fields) -> str:
    upsert_document(
        db,
        category=category,
        url=url,
        author_full_name=author,
        platform="test",
        content=content,
        fields=fields,
        http=None,
    )
    doc_id = document_id(url)
    db[category.value].update_one({"_id": doc_id}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})
    return doc_id


@pytest.fixture
def corpus(mongo_db, articles) -> dict[str, str]:
    """Seven real articles, a post and a repository, validated; name -> document id."""
    ids = {
        name: _store(mongo_db, Category.ARTICLES, f"https://news.test/{name}", a.content, title=a.title)
        for name, a in articles.items()
    }
    first_paragraph = next(p for p in articles["ars-1"].content.split("\n") if len(p.split()) >= 20)
    ids["post"] = _store(
        mongo_db,
        Category.POSTS,
        "https://social.test/posts/1",
        f"{first_paragraph} 🚀 https://t.co/xyz",
        author="John Roe",
    )
    files = [
        {"path": f"ragdag/stores/{path.name}", "content": path.read_text()}
        for path in sorted((REPO_ROOT / "include" / "ragdag" / "stores").glob("*.py"))
    ]
    files.append({"path": "package-lock.json", "content": '{"lockfileVersion": 3}'})
    ids["repository"] = _store(
        mongo_db,
        Category.REPOSITORIES,
        "https://git.test/ragdag",
        "\n".join(f["content"] for f in files),
        author="John Roe",
        title="ragdag stores",
        files=files,
    )
    return ids


def _points(settings, collection: str, with_vectors: bool = False) -> list:
    reader = {CHUNKS_COLLECTION: iter_chunks, DOCUMENTS_COLLECTION: iter_document_points}[collection]
    with qdrant_client(settings) as client:
        return list(reader(client, with_vectors=with_vectors))


def _chunk_ids_by_document(settings) -> dict[str, set[str]]:
    by_document: dict[str, set[str]] = {}
    for point in _points(settings, CHUNKS_COLLECTION):
        by_document.setdefault(point.payload["document_id"], set()).add(str(point.id))
    return by_document


def _expected_chunks(mongo_db, category: Category, doc_id: str, tokenizer) -> list:
    return prepare_document(mongo_db[category.value].find_one({"_id": doc_id}), tokenizer).chunks


def test_first_run_embeds_every_chunk_with_its_payload(settings, mongo_db, corpus, embedder) -> None:
    report = embed_validated_documents(settings, "run-1", embedder=embedder)

    assert report.documents_embedded == len(corpus)
    assert report.documents_skipped == report.documents_deleted == report.chunks_deleted == 0
    chunks = _points(settings, CHUNKS_COLLECTION, with_vectors=True)
    assert report.chunks_written == report.chunks_total == len(chunks)
    categories = {"post": Category.POSTS, "repository": Category.REPOSITORIES}
    expected = {
        doc_id: _expected_chunks(mongo_db, categories.get(name, Category.ARTICLES), doc_id, embedder.tokenizer)
        for name, doc_id in corpus.items()
    }
    assert len(chunks) == sum(len(c) for c in expected.values())
    for point in chunks:
        payload = point.payload
        assert CHUNK_PAYLOAD <= set(payload)
        chunk = expected[payload["document_id"]][payload["chunk_index"]]
        assert payload["text"] == chunk.text
        assert payload["chunk_hash"] == content_hash(chunk.text)
        assert str(point.id) == chunk_point_id(payload["document_id"], chunk.chunk_index, payload["chunk_hash"])
        assert payload["embedding_model"] == settings.embedding_model_id
        assert payload["token_count"] <= 256
        assert len(point.vector) == 384
        assert math.isclose(sum(v * v for v in point.vector), 1.0, rel_tol=1e-4)
    stored = {str(p.id): p.payload for p in _points(settings, DOCUMENTS_COLLECTION)}
    assert set(stored) == set(corpus.values())
    article = mongo_db.articles.find_one({"_id": corpus["ars-1"]})
    record = stored[corpus["ars-1"]]
    assert record["content_hash"] == article["content_hash"]
    assert record["title"] == article["title"] and record["chunk_count"] == len(expected[corpus["ars-1"]])
    assert "🚀" not in stored[corpus["post"]]["text"] and "t.co" not in stored[corpus["post"]]["text"]
    assert "ragdag/stores/qdrant.py\n" in stored[corpus["repository"]]["text"]
    assert "lockfileVersion" not in stored[corpus["repository"]]["text"]
    (run,) = stage_reports(mongo_db, "embed", "run-1")
    assert run["chunks_written"] == report.chunks_written
    assert run["retrieval_hit_rate"] == report.retrieval_hit_rate


def test_rerun_on_unchanged_data_embeds_nothing(settings, corpus, embedder, monkeypatch) -> None:
    embed_validated_documents(settings, "run-1", embedder=embedder)
    before = _chunk_ids_by_document(settings)
    calls: list[int] = []
    monkeypatch.setattr(Embedder, "embed", lambda self, texts, *args, **kwargs: calls.append(len(texts)))

    report = embed_validated_documents(settings, "run-2", embedder=embedder)

    assert calls == []
    assert report.documents_skipped == len(corpus)
    assert report.documents_embedded == report.chunks_written == report.chunks_deleted == 0
    assert report.retrieval_reused and report.retrieval_hit_rate is not None
    assert _chunk_ids_by_document(settings) == before


def test_changed_document_replaces_its_chunks(settings, mongo_db, corpus, articles, embedder) -> None:
    embed_validated_documents(settings, "run-1", embedder=embedder)
    doc_id = corpus["bbc-1"]
    old_ids = _chunk_ids_by_document(settings)[doc_id]
    new_content = articles["bbc-1"].content.replace("Obama", "The president") + "\n\nA new closing paragraph."
    _store(mongo_db, Category.ARTICLES, "https://news.test/bbc-1", new_content, title=articles["bbc-1"].title)

    report = embed_validated_documents(settings, "run-2", embedder=embedder)

    assert (report.documents_embedded, report.documents_skipped) == (1, len(corpus) - 1)
    new_ids = _chunk_ids_by_document(settings)[doc_id]
    expected = _expected_chunks(mongo_db, Category.ARTICLES, doc_id, embedder.tokenizer)
    assert new_ids == {chunk_point_id(doc_id, c.chunk_index, content_hash(c.text)) for c in expected}
    assert report.chunks_written == len(expected)
    assert report.chunks_deleted == len(old_ids - new_ids) > 0
    payloads = [p.payload for p in _points(settings, CHUNKS_COLLECTION) if p.payload["document_id"] == doc_id]
    assert {p["content_hash"] for p in payloads} == {content_hash(new_content)}
    assert not any("Obama" in p["text"] for p in payloads)


def test_documents_no_longer_validated_lose_their_chunks(settings, mongo_db, corpus, embedder) -> None:
    embed_validated_documents(settings, "run-1", embedder=embedder)
    before = _chunk_ids_by_document(settings)
    mongo_db.articles.delete_one({"_id": corpus["cnet"]})
    mongo_db.articles.update_one({"_id": corpus["webmd-2"]}, {"$set": {STATUS_FIELD: DocumentStatus.QUARANTINED.value}})

    report = embed_validated_documents(settings, "run-2", embedder=embedder)

    after = _chunk_ids_by_document(settings)
    assert report.documents_deleted == 2
    assert report.chunks_deleted == len(before[corpus["cnet"]]) + len(before[corpus["webmd-2"]])
    assert corpus["cnet"] not in after and corpus["webmd-2"] not in after
    assert {k: v for k, v in before.items() if k in after} == after
    stored = {str(p.id) for p in _points(settings, DOCUMENTS_COLLECTION)}
    assert stored == set(corpus.values()) - {corpus["cnet"], corpus["webmd-2"]}


def test_chunks_left_without_a_record_are_replaced_or_removed(settings, mongo_db, corpus, articles, embedder) -> None:
    """Break 2 of issue 9: a first embed killed before its document records left chunks that no later
    run removed, neither when the document changed (old chunks beside the new) nor when it went."""
    embed_validated_documents(settings, "run-killed", embedder=embedder)
    with qdrant_client(settings) as client:  # as if killed after the chunks, before any record
        client.delete(DOCUMENTS_COLLECTION, points_selector=list(corpus.values()))
    new_content = articles["bbc-1"].content.replace("Obama", "The president") + "\n\nA new closing paragraph."
    _store(mongo_db, Category.ARTICLES, "https://news.test/bbc-1", new_content, title=articles["bbc-1"].title)
    mongo_db.articles.delete_one({"_id": corpus["cnet"]})

    report = embed_validated_documents(settings, "run-again", embedder=embedder)

    after = _chunk_ids_by_document(settings)
    assert corpus["cnet"] not in after
    expected = _expected_chunks(mongo_db, Category.ARTICLES, corpus["bbc-1"], embedder.tokenizer)
    assert after[corpus["bbc-1"]] == {
        chunk_point_id(corpus["bbc-1"], c.chunk_index, content_hash(c.text)) for c in expected
    }
    assert {p.payload["content_hash"] for p in _points(settings, CHUNKS_COLLECTION)} == {
        d["content_hash"] for name in DOCUMENT_NAMES for d in mongo_db[name].find()
    }
    assert report.chunks_total == sum(len(ids) for ids in after.values())
    assert report.documents_deleted == 1 and report.chunks_deleted > 0
    with qdrant_client(settings) as client:
        assert delete_documents(client, [corpus["cnet"]]) == 0  # nothing of it is left


def test_small_pages_and_groups_give_the_same_store(settings, corpus, embedder) -> None:
    report = embed_validated_documents(
        settings, "run-1", embedder=embedder, config=PipelineConfig(page_documents=2, flush_chunks=7)
    )
    assert report.documents_embedded == len(corpus)
    assert report.chunks_written == sum(len(ids) for ids in _chunk_ids_by_document(settings).values())


def test_search_finds_the_right_document_and_filters(settings, corpus, embedder) -> None:
    report = embed_validated_documents(settings, "run-1", embedder=embedder)
    assert report.retrieval_hit_rate is not None and report.retrieval_hit_rate >= 0.8
    assert evaluate_retrieval(settings) == report.retrieval_hit_rate

    hits = search(settings, "Minecraft exploit that crashes game servers", k=5)
    assert len(hits) == 5 and hits[0].document_id in {corpus["ars-1"], corpus["post"]}
    assert hits == sorted(hits, key=lambda h: -h.score)
    hits = search(settings, "Apple Vision Pro headset display", k=3, category="articles")
    assert hits[0].document_id == corpus["theverge"]
    assert {h.category for h in hits} == {"articles"}
    hits = search(settings, "Minecraft exploit", k=5, author="John Roe")
    assert {h.author_full_name for h in hits} == {"John Roe"}
    assert hits[0].document_id == corpus["post"]
    hits = search(settings, "MongoDB connection from an Airflow hook", k=3, category="repositories")
    assert hits and {h.document_id for h in hits} == {corpus["repository"]}
    with pytest.raises(ValueError, match="use one of"):
        search(settings, "anything", category="videos")


def test_cli_search_and_eval(settings, corpus, embedder, capsys) -> None:
    from ragdag.cli import main

    embed_validated_documents(settings, "run-1", embedder=embedder)
    capsys.readouterr()
    assert main(["search", "superbugs resistant to antibiotics", "-k", "2", "--category", "articles"]) == 0
    out = capsys.readouterr().out
    assert "https://news.test/webmd-2" in out
    assert main(["search", "--eval"]) == 0
    assert "hit rate" in capsys.readouterr().out


def test_batches_by_token_length_give_the_same_vectors(embedder, articles) -> None:
    import numpy as np

    texts = [a.content[:n] for a in articles.values() for n in (80, 700, 1500)]
    counts = embedder.tokenizer.count_with_special(texts)
    plain = embedder.embed(texts, batch_size=4)
    sorted_batches = embedder.embed(texts, batch_size=4, token_counts=counts)
    assert sorted_batches.shape == (len(texts), 384)
    assert np.allclose(plain, sorted_batches, atol=1e-5)
    assert np.allclose(np.linalg.norm(plain, axis=1), 1.0, atol=1e-5)


def test_quantization_is_part_of_the_feature_version() -> None:
    from ragdag.features.pipeline import feature_version

    model = "sentence-transformers/all-MiniLM-L6-v2"
    assert feature_version(model, "int8") != feature_version(model, "none") == feature_version(model)
