"""The real ``crawl_sources`` DAG run with ``dag.test()`` against the local sample site and MongoDB.

Only permanent failures are exercised here: a transient one would make a mapped task wait out
Airflow's 30 s retry delays.
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import pytest

from ragdag.crawling.sources.crawl_plan import InvalidCrawlConf, parse_crawl_conf
from ragdag.demo.site import sample_links, serve_sample_site
from ragdag.settings import get_settings
from ragdag.stores.mongo import CRAWL_ERRORS

# The crawler tests' real HTTP server, which records when each request arrived.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crawling"))
from http_server import Reply, html, running_server  # noqa: E402

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
AUTHOR = "Jane Doe"
BAD_CONFS = {
    "unknown key": {"author": AUTHOR, "links": ["https://blog.example.com/p"], "depth": 3},
    "ftp URL": {"author": AUTHOR, "links": ["ftp://files.example.com/paper.pdf"]},
    "credentials": {"author": AUTHOR, "links": ["https://jane:secret@blog.example.com/p"]},
    "missing author": {"links": ["https://blog.example.com/p"]},
}


@pytest.fixture(scope="module")
def crawl_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    # This DAG's file only: the folder as a whole is test_dag_integrity's.
    bag = DagBag(dag_folder=str(DAGS_DIR / "crawl_sources.py"))
    assert bag.import_errors == {}
    return bag.dags["crawl_sources"]


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def run_state(dag_run) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


def asset_events_of(dag_run) -> list:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        session.expunge_all()
    return events


@pytest.mark.parametrize("conf", BAD_CONFS.values(), ids=BAD_CONFS.keys())
def test_bad_conf_fails_the_first_task_naming_the_field(crawl_dag, settings, capfd, caplog, conf: dict) -> None:
    with pytest.raises(InvalidCrawlConf) as expected:
        parse_crawl_conf(conf)
    field = str(expected.value).removeprefix("invalid crawl_sources conf: ").split(":")[0]
    assert field in {"depth", "links.0", "author"}

    dag_run = crawl_dag.test(run_conf=conf)

    assert run_state(dag_run) == "failed"
    assert task_states(dag_run) == {
        "plan_targets": "failed",
        "crawl": "upstream_failed",
        "summarize": "upstream_failed",
    }
    # The task log carries the same message, naming the field; no retry was attempted.
    log = capfd.readouterr()
    # A PermanentError fails the task without retries (dag_wiring's retry policy), its type and message logged.
    assert f"InvalidCrawlConf: {expected.value}" in log.out + log.err + caplog.text
    [plan] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "plan_targets"]
    assert plan.try_number == 1
    assert asset_events_of(dag_run) == []


def test_good_conf_crawls_into_mongodb_and_emits_counts(crawl_dag, settings, mongo_db) -> None:
    with serve_sample_site() as base_url:
        pages = sample_links(base_url)
        missing = f"{base_url}/no-such-post.html"
        dag_run = crawl_dag.test(run_conf={"author": AUTHOR, "links": [*pages, missing]})

    assert run_state(dag_run) == "success", task_states(dag_run)
    assert {doc["url"] for doc in mongo_db.articles.find()} == set(pages)
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert (error["url"], error["run_id"]) == (missing, dag_run.run_id) and "HTTP 404" in error["reason"]
    [event] = asset_events_of(dag_run)
    assert event.source_task_id == "summarize"
    assert event.extra == {
        "new": len(pages),
        "updated": 0,
        "unchanged": 0,
        "failed": 1,
        "failed_sources": 1,
        "sources": len(pages) + 1,
    }


def test_run_fails_when_too_many_sources_fail(crawl_dag, settings, mongo_db) -> None:
    with serve_sample_site() as base_url:
        dead = [f"{base_url}/gone-{n}.html" for n in range(3)]
        dag_run = crawl_dag.test(run_conf={"author": AUTHOR, "links": dead})

    assert run_state(dag_run) == "failed"
    # Every crawl task succeeded (a 404 is recorded, not raised); the summary fails the run.
    assert task_states(dag_run) == {"plan_targets": "success", "crawl": "success", "summarize": "failed"}
    assert mongo_db[CRAWL_ERRORS].count_documents({"run_id": dag_run.run_id}) == 3
    assert asset_events_of(dag_run) == []


def test_one_host_is_crawled_politely_across_the_run(crawl_dag, settings, mongo_db, monkeypatch) -> None:
    """8 links on one host and 2 on another: the gaps per host hold the delay, robots.txt once each."""
    delay = 0.25
    monkeypatch.setenv("RAGDAG_PER_HOST_DELAY_S", str(delay))
    get_settings.cache_clear()
    with running_server() as server:
        server.route("/robots.txt", Reply(body=b"User-agent: *\nAllow: /\n", content_type="text/plain"))
        for n in range(8):
            server.route(f"/post-{n}", html(f"Post number {n} about crawling politely, one host at a time."))
        links = [server.url(f"/post-{n}") for n in range(8)] + [
            server.url(f"/post-{n}", host="localhost") for n in range(2)
        ]
        dag_run = crawl_dag.test(run_conf={"author": AUTHOR, "links": links})

        assert run_state(dag_run) == "success", task_states(dag_run)
        crawls = sorted(ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == "crawl")
        assert crawls == ["127.0.0.1", "localhost"]  # one mapped task per host, named after it
        for host, pages in (("127.0.0.1", 8), ("localhost", 2)):
            hits = [hit for hit in server.hits if hit.host == host]
            assert [h.path for h in hits].count("/robots.txt") == 1
            assert len(hits) == pages + 1
            gaps = [later.at - earlier.at for earlier, later in pairwise(hits)]
            assert min(gaps) >= delay, (host, gaps)
    assert mongo_db.articles.count_documents({}) == 10
