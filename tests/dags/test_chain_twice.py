"""The main job twice on the unchanged sample site, as ``ragdag demo`` runs it (``dag.test()``, real
DAGs, embedded stores): the second run changes nothing (issue 9, break 1 and how it is shown).

The sample site includes a draft page the validation gate quarantines. Before the fix it came
back as new on every crawl, was quarantined once more each time, and from the second run on was
the whole batch, so the gate failed and nothing downstream ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdag.demo.site import QUARANTINED_SAMPLE_PAGES, build_sample_repository, sample_links, serve_sample_site
from ragdag.demo.social_apis import demo_post_sources, serve_social_apis
from ragdag.demo.summary import platform_summary
from ragdag.documents import QUARANTINE, DocumentStatus, accepted_filter
from ragdag.models import document_id
from ragdag.validation import list_quarantined

pytestmark = pytest.mark.slow

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
# The chain up to the dataset; training is tested on its own (tests/training).
CHAIN = ("crawl_sources", "validate_documents", "embed_documents", "build_instruct_dataset")


@pytest.fixture(scope="module")
def dag_bag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag


def _extra(dag_run) -> dict:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        assert len(events) <= 1, [e.extra for e in events]
        return dict(events[0].extra) if events else {}  # nothing new published: no event


def _run_chain(dag_bag, conf: dict) -> dict[str, dict]:
    extras = {}
    for dag_id in CHAIN:
        dag_run = dag_bag.dags[dag_id].test(run_conf=conf if dag_id == "crawl_sources" else None)
        state = str(getattr(dag_run.state, "value", dag_run.state))
        assert state == "success", f"{dag_id} {state}"
        extras[dag_id] = _extra(dag_run)
    return extras


def test_a_second_run_on_the_unchanged_site_changes_nothing(dag_bag, settings, mongo_db, tmp_path) -> None:
    from ragdag.stores.object_store import open_object_store

    repository = build_sample_repository(tmp_path / "repositories").as_uri()
    with serve_sample_site() as base_url, serve_social_apis() as api_url:
        posts_sources = demo_post_sources(api_url, tmp_path)
        conf = {"author": "Jane Doe", "links": [*sample_links(base_url), repository], "posts": posts_sources}
        drafts = {document_id(f"{base_url}/{name}") for name in QUARANTINED_SAMPLE_PAGES}
        first = _run_chain(dag_bag, conf)
        second = _run_chain(dag_bag, conf)

    sources = len(conf["links"])
    posts = mongo_db.posts.count_documents({})
    from_archives = mongo_db.posts.count_documents({"platform": "linkedin"})
    assert {d["platform"] for d in mongo_db.posts.find()} == {p["platform"] for p in posts_sources}
    assert first["crawl_sources"]["new"] == sources + posts and first["crawl_sources"]["failed"] == 0
    assert first["validate_documents"]["quarantined"] == len(drafts)
    assert first["embed_documents"]["documents_embedded"] == sources - len(drafts) + posts

    assert (second["crawl_sources"]["new"], second["crawl_sources"]["updated"]) == (0, 0)
    # The accounts' posts are listed again, unchanged; the unchanged archive is not read again.
    assert second["crawl_sources"]["unchanged"] == sources + posts - from_archives
    assert (second["validate_documents"]["validated"], second["validate_documents"]["quarantined"]) == (0, 0)
    assert second["embed_documents"]["documents_embedded"] == second["embed_documents"]["chunks_written"] == 0
    assert second["embed_documents"]["chunks_total"] == first["embed_documents"]["chunks_total"]

    # The quarantine holds the draft once, in its collection, quarantined; nothing else.
    assert mongo_db[QUARANTINE].count_documents({}) == len(drafts)
    assert {e.document_id for e in list_quarantined(settings)} == drafts
    for doc_id in drafts:
        assert mongo_db.articles.find_one({"_id": doc_id})["validation"]["status"] == DocumentStatus.QUARANTINED
    assert mongo_db.articles.count_documents(accepted_filter()) == sources - len(drafts) - 1  # - the repository
    manifests = [k for k in open_object_store(settings).list_keys("instruct_datasets/") if k.endswith("manifest.json")]
    assert len(manifests) == 1, manifests

    # What `ragdag demo` prints at the end shows the quarantine at work.
    summary = platform_summary(settings)
    assert [q["url"] for q in summary["quarantine"]] == [f"{base_url}/{name}" for name in QUARANTINED_SAMPLE_PAGES]
    assert summary["mongodb"]["quarantined"] == len(drafts)
    assert summary["qdrant"]["chunks"] == second["embed_documents"]["chunks_total"]
    # Posts reach Qdrant (a post, or a thread of the author's own, is one chunk) and the dataset.
    assert summary["by_category"]["posts"]["accepted"] == summary["by_category"]["posts"]["chunks"] == posts
    assert summary["by_category"]["posts"]["dataset_samples"] > 0
