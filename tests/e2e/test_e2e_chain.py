"""End to end, as users run it: a real Airflow (api-server, scheduler, dag-processor, triggerer) with
the bundle's DAGs, driven over the REST API with the official ``apache-airflow-client``, and its UI
in headless Chromium.

One Airflow serves the module (``scripts/airflow_local.py``, ~15 s to start). The REST conf names
the local sample site; MongoDB is the session's test server (``mongo_uri``), with a database of
this module's own. Every wait has an explicit deadline (the constants below); the whole module
takes about 1.5-2 minutes here. Screenshots go to ``test-output/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from airflow_local import LocalAirflow

from ragdag.assets import CHAIN, CHAIN_DAG_IDS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
ASSETS = tuple(asset.name for asset in CHAIN)
BAD_CONF = {"author": "x", "links": ["ftp://nope"]}

# Deadlines (seconds). Measured here: start ~15, chain ~50-60, bad conf ~12, UI ~10.
STARTUP_TIMEOUT_S = 150
CHAIN_TIMEOUT_S = 1200  # a hang guard: the chain takes 2-4 min on a quiet 2-core machine
# The chain's mechanics, with the real SmolLM2 twin kept short (tests/datasets/test_twin_end_to_end.py
# and `ragdag demo` train it with the defaults).
SHORT_TWIN = {
    "RAGDAG_TRAINING_STEPS": "2",
    "RAGDAG_TRAINING_DPO_STEPS": "1",
    "RAGDAG_TRAINING_MAX_SEQ_LENGTH": "128",
    "RAGDAG_TRAINING_EVAL_GENERATIONS": "1",
    "RAGDAG_TRAINING_EVAL_MAX_NEW_TOKENS": "16",
    "RAGDAG_DATASET_REJECTED_MAX_TOKENS": "16",
}
BAD_CONF_TIMEOUT_S = 120
UI_ACTION_TIMEOUT_MS = 30_000


@dataclass
class E2E:
    airflow: LocalAirflow
    site: str
    mongo_uri: str
    database: str
    bad_conf_run_id: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def e2e(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory):
    from airflow_local import local_airflow

    from ragdag.demo.site import serve_sample_site

    work = tmp_path_factory.mktemp("e2e")
    database = f"e2e_{uuid.uuid4().hex[:12]}"
    with (
        serve_sample_site() as site,
        local_airflow(
            work / "data",
            mongo_uri=mongo_uri,
            home=work / "airflow-home",
            extra_env={"RAGDAG_MONGO_DATABASE": database, **SHORT_TWIN},
            timeout_s=STARTUP_TIMEOUT_S,
        ) as airflow,
    ):
        yield E2E(airflow, site, mongo_uri, database)
        _drop_database(mongo_uri, database)


def _drop_database(mongo_uri: str, database: str) -> None:
    from pymongo import MongoClient

    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5_000) as client:
        client.drop_database(database)


def _report(name: str, lines: list[str]) -> None:
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def test_rest_trigger_runs_the_whole_chain_through_assets(e2e: E2E) -> None:
    """crawl_sources triggered over REST; each later DAG started by the Asset event of the one before."""
    from airflow_local import api_client, trigger_dag, wait_for_chain

    from ragdag.demo.site import sample_links

    conf = {"author": "Jane Doe", "links": sample_links(e2e.site)}
    with api_client(e2e.airflow) as client:
        started = time.perf_counter()
        first = trigger_dag(client, "crawl_sources", conf)
        assert first.logical_date is None and first.conf == conf

        def on_run(run) -> None:
            print(f"{run.dag_id:24s} {run.state:8s} {run.seconds:6.1f}s  {run.run_id}")
            if run.dag_id == "crawl_sources":
                # crawl_sources runs one at a time: the bad-conf test's run goes right after this one.
                e2e.bad_conf_run_id["run_id"] = trigger_dag(client, "crawl_sources", BAD_CONF).dag_run_id

        runs = wait_for_chain(client, first.dag_run_id, timeout_s=CHAIN_TIMEOUT_S, on_run=on_run)
        total = time.perf_counter() - started

    _report(
        "e2e-chain.txt",
        [f"{r.dag_id:24s} {r.state:8s} {r.seconds:6.1f}s  {r.run_type:16s} {r.run_id}" for r in runs]
        + [f"chain: {total:.1f}s from the REST trigger to the end of train_model"],
    )
    assert [r.dag_id for r in runs] == list(CHAIN_DAG_IDS)
    assert all(r.state == "success" for r in runs)
    assert runs[0].run_type == "manual"
    assert all(r.run_type == "asset_triggered" for r in runs[1:])

    # The chain did the work: documents in MongoDB, a model in the registry.
    from pymongo import MongoClient

    from ragdag.documents import accepted_filter
    from ragdag.stores.mongo import MODEL_REGISTRY

    with MongoClient(e2e.mongo_uri, serverSelectionTimeoutMS=5_000) as mongo:
        db = mongo[e2e.database]
        assert db["articles"].count_documents({}) >= 1
        assert db["articles"].count_documents(accepted_filter()) >= 1
        assert db[MODEL_REGISTRY].count_documents({}) == 1


def test_bad_conf_fails_plan_targets(e2e: E2E) -> None:
    """A conf with a non-http(s) link: the run fails in plan_targets, crawls nothing, emits nothing."""
    import airflow_client.client as af
    from airflow_local import api_client, failure_report, task_log_tail, trigger_dag, wait_for_run

    with api_client(e2e.airflow) as client:
        run_id = e2e.bad_conf_run_id.get("run_id") or trigger_dag(client, "crawl_sources", BAD_CONF).dag_run_id
        run = wait_for_run(client, "crawl_sources", run_id, timeout_s=BAD_CONF_TIMEOUT_S)
        report = failure_report(client, "crawl_sources", run_id)
        task_instances = af.TaskInstanceApi(client).get_task_instances("crawl_sources", run_id).task_instances
        tis = {ti.task_id: ti for ti in task_instances}
        log = task_log_tail(client, "crawl_sources", run_id, "plan_targets", tis["plan_targets"].try_number, lines=200)
        events = af.AssetApi(client).get_asset_events(source_run_id=run_id).asset_events

    print(report)
    assert str(run.state.value) == "failed", report
    assert str(tis["plan_targets"].state.value) == "failed", report
    assert tis["plan_targets"].try_number == 1, "a bad conf is not retried"
    assert str(tis["crawl"].state.value) == "upstream_failed", report
    assert "invalid crawl_sources conf" in log and "ftp://nope" in log, log
    assert events == [], "a failed crawl must not emit raw_documents"


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap.sh installs it as root (apt-get install chromium)")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_ui_shows_the_dags_and_the_asset_graph(e2e: E2E) -> None:
    """Log into the UI, open the DAG list and the Assets view with the asset graph; screenshots."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    OUTPUT_DIR.mkdir(exist_ok=True)
    base = e2e.airflow.base_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_ACTION_TIMEOUT_MS)

            page.goto(f"{base}/")
            page.wait_for_url(re.compile(r".*/auth/login"))  # the UI redirects to its login page
            page.locator("input[name=username]").fill(e2e.airflow.username)
            page.locator("input[name=password]").fill(e2e.airflow.password)
            page.screenshot(path=str(OUTPUT_DIR / "ui-login.png"))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r"^(?!.*/auth/login)"))

            page.goto(f"{base}/dags", wait_until="networkidle")
            for dag_id in CHAIN_DAG_IDS:
                page.get_by_role("link", name=dag_id, exact=True).first.wait_for()
            page.screenshot(path=str(OUTPUT_DIR / "ui-dags.png"), full_page=True)

            page.goto(f"{base}/assets", wait_until="networkidle")
            for asset in ASSETS:
                page.get_by_role("link", name=asset, exact=True).first.wait_for()
            page.screenshot(path=str(OUTPUT_DIR / "ui-assets.png"), full_page=True)

            # The asset graph: one asset's page draws the whole chain, DAGs and assets alternating
            # (fitted to its panel: a wide window makes the ten nodes readable).
            page.set_viewport_size({"width": 2400, "height": 900})
            page.get_by_role("link", name="validated_documents", exact=True).first.click()
            page.locator(".react-flow__node").first.wait_for()
            page.wait_for_load_state("networkidle")
            nodes = {n.inner_text().strip() for n in page.locator(".react-flow__node").all()}
            page.wait_for_timeout(500)  # let the graph settle its fit-to-view before the picture
            page.screenshot(path=str(OUTPUT_DIR / "ui-asset-graph.png"), full_page=True)
        finally:
            browser.close()
    (OUTPUT_DIR / "ui-asset-graph-nodes.json").write_text(json.dumps(sorted(nodes), indent=1))
    assert set(CHAIN_DAG_IDS) | set(ASSETS) <= nodes, f"asset graph nodes: {sorted(nodes)}"


def _log_in(page, airflow: LocalAirflow) -> None:
    page.goto(f"{airflow.base_url}/")
    page.wait_for_url(re.compile(r".*/auth/login"))
    page.locator("input[name=username]").fill(airflow.username)
    page.locator("input[name=password]").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/auth/login)"))


def test_rag_platform_page_shows_the_chain_and_releases_from_the_quarantine(e2e: E2E) -> None:
    """The plugin's "RAG platform" entry in the Airflow UI: each page shows the chain's data; a
    quarantined document released from the page is accepted by the next validation run; a crawled
    title holding markup shows as text. Screenshots of each page in test-output/."""
    _require_chromium()
    from airflow_local import api_client, trigger_dag, wait_for_run
    from playwright.sync_api import sync_playwright
    from pymongo import MongoClient

    from ragdag.documents import accepted_filter
    from ragdag.stores.mongo import MODEL_REGISTRY

    with MongoClient(e2e.mongo_uri, serverSelectionTimeoutMS=5_000) as mongo:
        db = mongo[e2e.database]
        model_id = db[MODEL_REGISTRY].find_one({}, sort=[("created_at", -1)])["_id"]
        accepted_before = sum(db[c].count_documents(accepted_filter()) for c in ("articles", "posts", "repositories"))

    OUTPUT_DIR.mkdir(exist_ok=True)
    base = e2e.airflow.base_url
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_ACTION_TIMEOUT_MS)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            _log_in(page, e2e.airflow)

            # The navigation entry opens the overview inside the Airflow UI (an embedded frame).
            page.get_by_role("link", name="RAG platform").first.click()
            page.wait_for_url(re.compile(r".*/plugin/rag-platform"))
            frame = page.frame_locator("iframe").first
            for dag_id in CHAIN_DAG_IDS:
                frame.locator(f"#stages tr[data-stage={dag_id}]").wait_for()
            assert "no run yet" not in frame.locator("#stages").inner_text()
            page.screenshot(path=str(OUTPUT_DIR / "platform-overview.png"), full_page=True)

            # Quarantine: the sample site's draft is held, with its failed expectations.
            page.goto(f"{base}/ragdag/quarantine", wait_until="networkidle")
            rows = page.locator("#quarantine tbody tr")
            assert rows.count() >= 1
            row = rows.filter(has_text="evaluating-retrieval").first
            row.wait_for()
            assert "expect_" in row.inner_text() or row.locator("td").nth(2).inner_text().strip()
            page.screenshot(path=str(OUTPUT_DIR / "platform-quarantine.png"), full_page=True)
            row.locator("input[name=reason]").fill("reviewed: the draft is fine to use")
            with page.expect_navigation():  # the page reloads once the API accepted the release
                row.get_by_role("button", name="Release").click()
            page.goto(f"{base}/ragdag/quarantine?include_released=true", wait_until="networkidle")
            released_row = page.locator("#quarantine tbody tr").filter(has_text="evaluating-retrieval").first
            assert "released" in released_row.inner_text()

            page.goto(f"{base}/ragdag/datasets", wait_until="networkidle")
            assert page.locator("#datasets tbody tr").count() >= 1
            page.screenshot(path=str(OUTPUT_DIR / "platform-datasets.png"), full_page=True)
            page.locator("#datasets tbody tr a").first.click()
            page.wait_for_load_state("networkidle")
            assert "train_samples" in page.locator("#manifest").inner_text()
            page.screenshot(path=str(OUTPUT_DIR / "platform-dataset.png"), full_page=True)

            page.goto(f"{base}/ragdag/models", wait_until="networkidle")
            page.locator(f"#models tr[data-model-id='{model_id}']").wait_for()
            page.screenshot(path=str(OUTPUT_DIR / "platform-models.png"), full_page=True)

            page.goto(f"{base}/ragdag/lineage?id={model_id}", wait_until="networkidle")
            lineage_links = [a.get_attribute("href") for a in page.locator("#lineage-documents a").all()]
            assert any(href and href.startswith(e2e.site) for href in lineage_links), lineage_links
            page.screenshot(path=str(OUTPUT_DIR / "platform-lineage.png"), full_page=True)

            page.goto(f"{base}/ragdag/search?q=feature+store", wait_until="networkidle")
            assert page.locator("#hits li").count() >= 1
            assert e2e.site in page.locator("#hits").inner_text()
            page.screenshot(path=str(OUTPUT_DIR / "platform-search.png"), full_page=True)

            # Markup in crawled content is text, never HTML: nothing ran, nothing was injected.
            for path in ("quarantine?include_released=true", "search?q=script"):
                page.goto(f"{base}/ragdag/{path}", wait_until="networkidle")
                assert page.locator("main script").count() == 0
        finally:
            browser.close()
    assert dialogs == [], f"a script from crawled content ran: {dialogs}"

    # The next validation run picks the released document up: it counts as accepted.
    with api_client(e2e.airflow) as client:
        run = trigger_dag(client, "validate_documents")
        run = wait_for_run(client, "validate_documents", run.dag_run_id, timeout_s=CHAIN_TIMEOUT_S)
    assert str(run.state.value if hasattr(run.state, "value") else run.state) == "success"
    with MongoClient(e2e.mongo_uri, serverSelectionTimeoutMS=5_000) as mongo:
        db = mongo[e2e.database]
        accepted_after = sum(db[c].count_documents(accepted_filter()) for c in ("articles", "posts", "repositories"))
    assert accepted_after == accepted_before + 1
