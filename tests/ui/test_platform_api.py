"""The platform's page through a real Airflow api-server: the plugin is mounted, its API refuses
calls without Airflow's JWT, reads with a viewer's, and acts only with a user allowed to edit the
DAG that owns the data (simple auth manager: ``viewer`` reads, ``user`` acts).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from held_process import hold_qdrant_folder

from ragdag.local_ports import free_port

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
USERS = {"admin": "admin", "reader": "viewer", "editor": "user"}
STARTUP_TIMEOUT_S = 120


@dataclass
class ApiServer:
    base_url: str
    passwords: dict[str, str]
    data_dir: Path

    def token(self, username: str) -> str:
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": username, "password": self.passwords[username]},
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        return str(response.json()["access_token"])

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, mongo_uri: str) -> Iterator[ApiServer]:
    from airflow_local import airflow_env

    home = tmp_path_factory.mktemp("ui-airflow-home")
    data_dir = tmp_path_factory.mktemp("ui-data")
    port = free_port()
    passwords = {name: f"pw-{name}-{port}" for name in USERS}
    env = airflow_env(
        home,
        port,
        data_dir,
        mongo_uri=mongo_uri,
        extra_env={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "RAGDAG_MONGO_DATABASE": f"ui_{port}",
        },
    )
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text(json.dumps(passwords))
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = (home / "api-server.log").open("ab")
    subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=600)
    process = subprocess.Popen(
        [airflow, "api-server"], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, (home / "api-server.log").read_text()[-3000:]
            try:
                if requests.get(f"{base_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "api-server did not start"
            time.sleep(0.5)
        yield ApiServer(base_url, passwords, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


READ_ROUTES = (
    "/ragdag/api/overview",
    "/ragdag/api/quarantine",
    "/ragdag/api/datasets",
    "/ragdag/api/models",
    "/ragdag/api/search?q=airflow",
    "/ragdag/",
    "/ragdag/quarantine",
)
WRITE_ROUTES = (
    "/ragdag/api/quarantine/no-such-id/release",
    "/ragdag/api/models/no-such-model/promote",
    "/ragdag/api/models/no-such-model/archive",
)


def test_plugin_is_registered_with_a_nav_entry(api_server: ApiServer) -> None:
    response = requests.get(f"{api_server.base_url}/api/v2/plugins", headers=api_server.headers("reader"), timeout=30)
    assert response.status_code == 200, response.text
    plugins = {p["name"]: p for p in response.json()["plugins"]}
    assert "ragdag_platform" in plugins
    views = {v["name"]: v for v in plugins["ragdag_platform"]["external_views"]}
    assert views["RAG platform"]["destination"] == "nav"
    assert views["RAG platform"]["href"] == "ragdag/"


@pytest.mark.parametrize("route", READ_ROUTES + WRITE_ROUTES)
def test_every_route_refuses_a_call_without_a_token(api_server: ApiServer, route: str) -> None:
    method = requests.post if route in WRITE_ROUTES else requests.get
    response = method(f"{api_server.base_url}{route}", json={"reason": "no token"}, timeout=30)
    assert response.status_code == 401, (route, response.status_code, response.text[:300])


def test_a_forged_token_is_refused(api_server: ApiServer) -> None:
    response = requests.get(
        f"{api_server.base_url}/ragdag/api/quarantine", headers={"Authorization": "Bearer not.a.jwt"}, timeout=30
    )
    assert response.status_code in (401, 403)


def test_a_viewer_reads_but_cannot_act(api_server: ApiServer) -> None:
    headers = api_server.headers("reader")
    listed = requests.get(f"{api_server.base_url}/ragdag/api/quarantine", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert listed.json() == []
    for route in WRITE_ROUTES:
        response = requests.post(
            f"{api_server.base_url}{route}", headers=headers, json={"reason": "try it"}, timeout=30
        )
        assert response.status_code == 403, (route, response.status_code, response.text[:300])


def test_a_user_may_act_and_gets_a_clear_error_for_an_unknown_id(api_server: ApiServer) -> None:
    headers = api_server.headers("editor")
    response = requests.post(
        f"{api_server.base_url}/ragdag/api/quarantine/no-such-id/release",
        headers=headers,
        json={"reason": "checked by hand"},
        timeout=30,
    )
    assert response.status_code == 404, response.text
    assert "no-such-id" in response.json()["detail"]
    missing_reason = requests.post(
        f"{api_server.base_url}/ragdag/api/quarantine/no-such-id/release", headers=headers, json={}, timeout=30
    )
    assert missing_reason.status_code == 422


def test_the_page_renders_inside_the_session(api_server: ApiServer) -> None:
    # The Airflow UI's session: the JWT in the `_token` cookie, as the browser sends it to the frame.
    cookies = {"_token": api_server.token("reader")}
    page = requests.get(f"{api_server.base_url}/ragdag/quarantine", cookies=cookies, timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert "Quarantine" in page.text
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    script = requests.get(f"{api_server.base_url}/ragdag/static/actions.js", timeout=30)
    assert script.status_code == 200 and "fetch(" in script.text


HOSTILE_TITLE = "<script>alert('owned')</script> Draft"


@pytest.fixture(scope="module")
def quarantined(api_server: ApiServer, mongo_uri: str) -> str:
    """A crawled page with markup in its title, held in quarantine by the validation stage's own
    function, in the database the api-server reads."""
    from datetime import UTC, datetime

    from pymongo import MongoClient

    from ragdag.documents import DocumentRecord, collection_name
    from ragdag.models import Category, content_hash, document_id
    from ragdag.validation.gate import FailedExpectation
    from ragdag.validation.quarantine import hold_in_quarantine

    port = api_server.base_url.rsplit(":", 1)[1]
    url = "http://127.0.0.1:1/drafts/evil.html"
    now = datetime.now(UTC)
    text = "Too short."
    record = DocumentRecord(
        _id=document_id(url),
        url=url,
        category=Category.ARTICLES,
        platform="127.0.0.1",
        author_id="a1",
        author_full_name="Jane Doe",
        content=text,
        content_hash=content_hash(text),
        crawled_at=now,
        first_crawled_at=now,
        crawler_version="test",
        title=HOSTILE_TITLE,
    )
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5_000, tz_aware=True) as client:
        db = client[f"ui_{port}"]
        stored = record.stored()
        db[collection_name(Category.ARTICLES)].insert_one(stored)
        qid = hold_in_quarantine(
            db,
            category=Category.ARTICLES,
            document=stored,
            failures=[FailedExpectation(name="content_min_length", type="expect_column_value_lengths_to_be_between")],
            suite="articles",
            suite_version=1,
            run_id="manual__ui-test",
            at=now,
        )
    assert qid
    return qid


def test_quarantine_lists_the_document_and_the_page_shows_its_title_as_text(
    api_server: ApiServer, quarantined: str
) -> None:
    listed = requests.get(
        f"{api_server.base_url}/ragdag/api/quarantine", headers=api_server.headers("reader"), timeout=30
    )
    assert listed.status_code == 200, listed.text
    entry = next(e for e in listed.json() if e["id"] == quarantined)
    assert entry["title"] == HOSTILE_TITLE and entry["failed_expectations"] == ["content_min_length"]
    page = requests.get(
        f"{api_server.base_url}/ragdag/quarantine", cookies={"_token": api_server.token("reader")}, timeout=30
    )
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; Draft" in page.text


def test_release_needs_edit_permission_and_is_audited_with_the_airflow_user(
    api_server: ApiServer, quarantined: str, mongo_uri: str
) -> None:
    from pymongo import MongoClient

    from ragdag.documents import accepted_filter, collection_name
    from ragdag.models import Category
    from ragdag.stores.mongo import AUDIT_TRAIL

    route = f"{api_server.base_url}/ragdag/api/quarantine/{quarantined}/release"
    refused = requests.post(route, headers=api_server.headers("reader"), json={"reason": "looks fine"}, timeout=30)
    assert refused.status_code == 403
    released = requests.post(route, headers=api_server.headers("editor"), json={"reason": "looks fine"}, timeout=30)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    again = requests.post(route, headers=api_server.headers("editor"), json={"reason": "twice"}, timeout=30)
    assert again.status_code == 409
    port = api_server.base_url.rsplit(":", 1)[1]
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5_000) as client:
        db = client[f"ui_{port}"]
        audit = list(db[AUDIT_TRAIL].find({"details.quarantine_id": quarantined}))
        assert [(a["actor"], a["reason"]) for a in audit] == [("airflow:editor", "looks fine")]
        assert db[collection_name(Category.ARTICLES)].count_documents(accepted_filter()) == 1


def test_reports_are_served_sandboxed_and_only_from_the_validation_evidence(api_server: ApiServer) -> None:
    cookies = {"_token": api_server.token("reader")}
    missing = requests.get(
        f"{api_server.base_url}/ragdag/reports/validation/run/articles/data-docs/index.html",
        cookies=cookies,
        timeout=30,
    )
    assert missing.status_code == 404
    for key in ("validation/../instruct_datasets/LATEST", "models/x/model.tar.gz", "validation//x"):
        response = requests.get(f"{api_server.base_url}/ragdag/reports/{key}", cookies=cookies, timeout=30)
        assert response.status_code == 404, key


@pytest.mark.parametrize("route", ["/ragdag/api/docs", "/ragdag/api/openapi.json"])
def test_the_api_docs_sit_behind_the_pages_authentication(api_server: ApiServer, route: str) -> None:
    """Issue 25, item 8: they answered without a token."""
    assert requests.get(f"{api_server.base_url}{route}", timeout=30).status_code == 401
    response = requests.get(f"{api_server.base_url}{route}", headers=api_server.headers("reader"), timeout=30)
    assert response.status_code == 200, response.text[:300]
    if route.endswith(".json"):
        assert "/api/datasets/diff" in response.json()["paths"]


def test_the_static_assets_are_public_and_hold_no_data(api_server: ApiServer) -> None:
    """The decision for /ragdag/static/: public, the page's own stylesheet and script only."""
    response = requests.get(f"{api_server.base_url}/ragdag/static/page.css", timeout=30)
    assert response.status_code == 200 and "text/css" in response.headers["content-type"]
    assert requests.get(f"{api_server.base_url}/ragdag/static/../app.py", timeout=30).status_code == 404


def test_a_bad_version_is_400_and_a_missing_dataset_404(api_server: ApiServer) -> None:
    headers = api_server.headers("reader")
    diff = requests.get(
        f"{api_server.base_url}/ragdag/api/datasets/diff",
        params={"a": "../../../../etc", "b": "v-1"},
        headers=headers,
        timeout=30,
    )
    assert diff.status_code == 400, diff.text
    assert "is not a dataset version name" in diff.json()["detail"]
    latest = requests.get(f"{api_server.base_url}/ragdag/api/datasets/latest", headers=headers, timeout=30)
    assert latest.status_code == 404, latest.text
    assert "no instruct dataset published yet" in latest.json()["detail"]


def test_a_search_while_the_vector_store_is_held_is_503_with_a_retry_hint(api_server: ApiServer, tmp_path) -> None:
    """Issue 22: a search during an embed run waited 30 s and failed with a 500."""
    holder = hold_qdrant_folder(api_server.data_dir / "qdrant", tmp_path / "held")
    try:
        response = requests.get(
            f"{api_server.base_url}/ragdag/api/search",
            params={"q": "airflow"},
            headers=api_server.headers("reader"),
            timeout=300,  # a hang guard: the model loads first
        )
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    assert "busy" in response.json()["detail"]
