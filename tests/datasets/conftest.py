"""Dataset-stage fixtures: the demo's sample data as real stored chunks.

The demo crawls the sample site (include/sample_site plus a few shared real-world pages) and a git
repository of this project's own files. Here the same pages are extracted with the crawler's
extractor, stored in MongoDB as validated documents (plus one social post) and run through the real
feature stage once per session; each test then gets a copy of that Qdrant folder and those MongoDB
records in its own data dir and database.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTHOR = "Jane Doe"
POST = (
    "Shipping a RAG system taught me that retrieval quality is mostly a data problem. "
    "We spent two weeks tuning the index and one afternoon fixing the crawler, and the crawler "
    "fix mattered more. Why do we keep reaching for the model first? Clean inputs, validated "
    "documents and honest evaluation beat a bigger embedding model every time I have measured it."
)


def _store_demo_documents(db) -> list[str]:
    from ragdag.crawling.document_store import upsert_document
    from ragdag.crawling.extraction import extract_article
    from ragdag.demo.site import SAMPLE_REPOSITORY_FILES, SAMPLE_SITE_DIR, SHARED_PAGES, SHARED_PAGES_DIR
    from ragdag.documents import STATUS_FIELD, DocumentStatus
    from ragdag.models import Category, document_id

    stored: list[tuple[Category, str]] = []

    def store(category: Category, url: str, content: str, **fields: Any) -> None:
        upsert_document(
            db,
            category=category,
            url=url,
            author_full_name=AUTHOR,
            platform="test",
            content=content,
            fields=fields,
            http=None,
        )
        stored.append((category, url))

    pages = sorted(SAMPLE_SITE_DIR.glob("*.html"))
    pages += [SHARED_PAGES_DIR / name / "source.html" for name in SHARED_PAGES if (SHARED_PAGES_DIR / name).is_dir()]
    for page in pages:
        name = page.stem if page.parent == SAMPLE_SITE_DIR else page.parent.name
        article = extract_article(page.read_bytes())
        store(
            Category.ARTICLES,
            f"http://sample.test/{name}.html",
            article.content,
            title=article.title,
            language=article.language,
        )
    store(Category.POSTS, "https://social.test/jane/1", POST, language="en")
    files = [{"path": Path(p).name, "content": (REPO_ROOT / p).read_text()} for p in SAMPLE_REPOSITORY_FILES]
    files.append(
        {
            "path": "README.md",
            "content": "# ragdag sample repository\n\nA few modules of the "
            "ragdag platform: how instruct samples are built from chunks, how documents are "
            "cleaned, and the training entry point that runs locally and on SageMaker.\n",
        }
    )
    store(
        Category.REPOSITORIES,
        "https://git.test/jane/ragdag",
        "\n".join(f["content"] for f in files),
        title="ragdag",
        files=files,
    )
    for category, url in stored:
        db[category.value].update_one(
            {"_id": document_id(url)},
            {
                "$set": {
                    STATUS_FIELD: DocumentStatus.VALIDATED.value,
                    "validation.run_id": "demo-validate",
                    "validation.suite_version": 1,
                }
            },
        )
    return [document_id(url) for _, url in stored]


@pytest.fixture(scope="session")
def demo_snapshot(tmp_path_factory: pytest.TempPathFactory, mongo_uri: str) -> dict[str, Any]:
    """The demo corpus embedded once: the Qdrant folder and the MongoDB records it came from."""
    from ragdag.documents import DOCUMENT_COLLECTIONS
    from ragdag.features import embed_validated_documents
    from ragdag.settings import get_settings
    from ragdag.stores.mongo import as_airflow_mongo_conn, mongo_database

    root = tmp_path_factory.mktemp("demo-corpus")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAGDAG_DATA_DIR", str(root / "data"))
        patch.setenv("RAGDAG_MONGO_DATABASE", f"demo_{uuid.uuid4().hex[:12]}")
        patch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", as_airflow_mongo_conn(mongo_uri))
        patch.delenv("AIRFLOW_CONN_QDRANT_DEFAULT", raising=False)
        get_settings.cache_clear()
        settings = get_settings()
        with mongo_database(settings) as db:
            ids = _store_demo_documents(db)
            embed_validated_documents(settings, "demo-embed")
            records = {name: list(db[name].find()) for name in DOCUMENT_COLLECTIONS}
            db.client.drop_database(db.name)
        get_settings.cache_clear()
    return {"qdrant": settings.qdrant_path, "records": records, "document_ids": ids}


@pytest.fixture
def demo_chunks(settings, mongo_db, demo_snapshot) -> list[str]:
    """This test's own copy of the demo's stored documents and chunks; returns the document ids."""
    shutil.copytree(demo_snapshot["qdrant"], settings.qdrant_path)
    for name, records in demo_snapshot["records"].items():
        if records:
            mongo_db[name].insert_many(records)
    return list(demo_snapshot["document_ids"])
