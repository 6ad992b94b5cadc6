"""Session-wide fixtures: the shared corpus, isolated settings, the MongoDB test server, Airflow's DB.

MongoDB tests run against the project's embedded server (nx-27017) started here on a free port,
or against a real MongoDB when ``RAGDAG_TEST_MONGO_URI`` is set (e.g. mongodb://127.0.0.1:27017).
Each test gets its own database and data folder, so tests never see each other's documents.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
ARTICLE_PAGES_DIR = SHARED_DIR / "corpus" / "article-pages"

# Airflow reads its home at import time: give the test session its own, before anything imports it.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="ragdag-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"

# Property tests draw the same examples on every run (a red CI is a real regression, never an
# unlucky draw); `HYPOTHESIS_PROFILE=explore pytest ...` draws new ones when hunting for bugs.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, database=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def article_pages_dir() -> Path:
    """The shared real-world article pages (read at test time, never copied into the repo)."""
    if not ARTICLE_PAGES_DIR.is_dir():
        raise FileNotFoundError(f"{ARTICLE_PAGES_DIR} is missing: clone the project beside the shared/ folder")
    return ARTICLE_PAGES_DIR


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB server for the whole session: a real one if given, else the embedded one."""
    external = os.environ.get("RAGDAG_TEST_MONGO_URI")
    if external:
        yield external
        return
    from ragdag.stores import embedded_mongo

    data_dir = tmp_path_factory.mktemp("mongodb")
    server = embedded_mongo.start(data_dir, embedded_mongo.free_port())
    try:
        yield server.uri
    finally:
        embedded_mongo.stop(data_dir)


@pytest.fixture(scope="session")
def generation_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generation-cache")


@pytest.fixture
def settings(tmp_path: Path, mongo_uri: str, generation_cache_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings for one test: own data folder, own database, loopback crawling allowed."""
    from ragdag.settings import get_settings

    monkeypatch.setenv("RAGDAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAGDAG_MONGO_DATABASE", f"test_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("RAGDAG_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("RAGDAG_PER_HOST_DELAY_S", "0")
    # Preference pairs' rejected answers are real SmolLM2 generations (llama.cpp): short ones here,
    # cached for the session by what they were made from (most tests build from the same corpus).
    monkeypatch.setenv("RAGDAG_DATASET_REJECTED_MAX_TOKENS", "16")
    monkeypatch.setenv("RAGDAG_DATASET_GENERATION_CACHE_DIR", str(generation_cache_dir))
    from ragdag.stores.mongo import as_airflow_mongo_conn

    monkeypatch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", as_airflow_mongo_conn(mongo_uri))
    monkeypatch.delenv("AIRFLOW_CONN_QDRANT_DEFAULT", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def tiny_split_settings(settings, monkeypatch: pytest.MonkeyPatch):
    """Settings whose split leaves test samples in a corpus of a few one-sample documents
    (tests/chunk_fixtures.seed_chunks): the dataset stage's mechanics on a tiny corpus, not its
    split, which is by a hash of the document id (of seed_chunks' first six, two fall under 0.5)."""
    from ragdag.settings import get_settings

    monkeypatch.setenv("RAGDAG_DATASET_TEST_SHARE", "0.5")
    monkeypatch.setenv("RAGDAG_DATASET_MIN_TEST_SAMPLES", "1")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def mongo_db(settings):
    """The test's own MongoDB database (with the pipeline's indexes), dropped afterwards."""
    from ragdag.stores.mongo import mongo_database

    with mongo_database(settings) as db:
        yield db
        db.client.drop_database(db.name)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata DB (under the session's AIRFLOW_HOME), migrated once per test session for
    every test that runs a DAG or reads task state (DAG tests, observability)."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "db", "migrate"], env=dict(os.environ), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


pytest_plugins = ["aws_fixtures"]


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
