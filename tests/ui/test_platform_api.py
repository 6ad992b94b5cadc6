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

from ragdag.local_ports import free_port

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
USERS = {"admin": "admin", "reader": "viewer", "editor": "user"}
STARTUP_TIMEOUT_S = 120


@dataclass
class ApiServer:
    base_url: str
    passwords: dict[str, str]

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
        yield ApiServer(base_url, passwords)
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
        response = requests.post(f"{api_server.base_url}{route}", headers=headers, json={"reason": "try it"}, timeout=30)
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
