"""Fault-injection fixtures: real sample pages stored as the crawler stores them, the real model."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedder():
    from ragdag.features.embedding import load_embedder
    from ragdag.settings import Settings

    return load_embedder(Settings())


@pytest.fixture
def sample_corpus(mongo_db) -> dict[str, str]:
    """The demo's sample pages (and its shared pages), extracted, stored and accepted; URL -> id."""
    from ragdag.crawling.document_store import upsert_document
    from ragdag.crawling.extraction import extract_article
    from ragdag.demo.site import SAMPLE_SITE_DIR, SHARED_PAGES, SHARED_PAGES_DIR
    from ragdag.documents import STATUS_FIELD, DocumentStatus
    from ragdag.models import Category, document_id

    pages = {f"https://blog.test/{p.name}": p for p in sorted(SAMPLE_SITE_DIR.glob("*.html"))}
    pages.update(
        {f"https://blog.test/pages/{name}.html": SHARED_PAGES_DIR / name / "source.html" for name in SHARED_PAGES}
    )
    ids = {}
    for url, path in pages.items():
        article = extract_article(path.read_bytes(), url=url)
        upsert_document(
            mongo_db,
            category=Category.ARTICLES,
            url=url,
            author_full_name="Jane Doe",
            platform="blog.test",
            content=article.content,
            fields={"title": article.title, "language": article.language},
            http=None,
        )
        ids[url] = document_id(url)
    mongo_db.articles.update_many({}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})
    assert len(ids) >= 6
    return ids
