"""docker-compose.yaml's authentication, run for real without Docker.

- The ``env-check`` service's command (``scripts/airflow-auth.sh check``) with the environment
  compose gives it: it refuses .env.example's placeholders, naming the variable, and accepts the
  .env that ``scripts/new-env.py`` writes.
- The ``airflow-apiserver`` service: its command (through ``scripts/airflow-auth.sh run``) and its
  environment block, both read from docker-compose.yaml and interpolated as Compose would with a
  generated .env, start a real ``airflow api-server``; only the metadata DB (SQLite), the DAGs
  folder, the home and the port are pointed at this test's temp dir. No token: 401; a token only
  for the right password; with it: 200.
"""

from __future__ import annotations

import os
import re
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from test_deployment_files import COMPOSE, interpolate, load_yaml, parse_env_file, read_text

from ragdag.local_ports import free_port

REPO = Path(__file__).resolve().parents[1]
AUTH_SCRIPT = REPO / "scripts" / "airflow-auth.sh"
CONTAINER_SCRIPTS = "/opt/airflow/scripts"
STARTUP_TIMEOUT_S = 180


def generated_env() -> dict[str, str]:
    """The .env that `python3 scripts/new-env.py` writes, parsed."""
    new_env = runpy.run_path(str(REPO / "scripts" / "new-env.py"))["new_env"]
    return parse_env_file(new_env(read_text(".env.example")))


def clean_environ() -> dict[str, str]:
    """This process's environment without Airflow and ragdag settings, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RAGDAG_", "_AIRFLOW"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def service(env: dict[str, str], name: str) -> dict[str, Any]:
    return interpolate(load_yaml(COMPOSE), env)["services"][name]


def host_command(command: list[str]) -> list[str]:
    """A service's command with the container's scripts folder mapped to the repository's."""
    return [part.replace(CONTAINER_SCRIPTS, str(REPO / "scripts")) for part in command]


def run_env_check(env_file: dict[str, str]) -> subprocess.CompletedProcess[str]:
    check = service(env_file, "env-check")
    command = host_command([*check["entrypoint"], *check["command"]])
    environment = {**clean_environ(), **{k: str(v) for k, v in check["environment"].items()}}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)


# --- env-check ------------------------------------------------------------------------------------


def test_env_check_refuses_every_placeholder_of_env_example_by_name() -> None:
    example = parse_env_file(read_text(".env.example"))
    good = generated_env()
    assert run_env_check(good).returncode == 0, run_env_check(good).stderr
    checked = service(good, "env-check")["environment"]
    placeholders = [name for name in checked if example[name].startswith("change-me")]
    assert len(placeholders) == len(checked) >= 10
    for name in placeholders:
        result = run_env_check({**good, name: example[name]})
        assert result.returncode == 1, f"{name}={example[name]} passed the check"
        assert name in result.stderr and "placeholder" in result.stderr, result.stderr
    # Unedited .env.example as a whole: refused too.
    assert run_env_check(example).returncode == 1


def test_env_check_refuses_a_short_secret_and_a_bad_fernet_key() -> None:
    good = generated_env()
    short = run_env_check({**good, "POSTGRES_PASSWORD": "hunter2"})
    assert short.returncode == 1 and "POSTGRES_PASSWORD is shorter" in short.stderr
    bad_key = run_env_check({**good, "AIRFLOW_FERNET_KEY": "not-a-fernet-key-at-all"})
    assert bad_key.returncode == 1 and "AIRFLOW_FERNET_KEY is not a Fernet key" in bad_key.stderr


def test_new_env_replaces_each_placeholder_with_one_consistent_value() -> None:
    env = generated_env()
    assert not [k for k, v in env.items() if "change-me" in v]
    assert env["MONGO_INITDB_ROOT_PASSWORD"] in env["AIRFLOW_CONN_MONGO_DEFAULT"]
    assert env["MINIO_ROOT_PASSWORD"] in env["AIRFLOW_CONN_AWS_DEFAULT"]
    assert env["QDRANT__SERVICE__API_KEY"] in env["AIRFLOW_CONN_QDRANT_DEFAULT"]
    assert generated_env()["AIRFLOW_ADMIN_PASSWORD"] != env["AIRFLOW_ADMIN_PASSWORD"]


# --- the api-server, as docker-compose.yaml runs it ---------------------------------------------


def test_compose_sets_no_all_admins_and_one_user() -> None:
    env = service(generated_env(), "airflow-apiserver")["environment"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "false"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    text = read_text(COMPOSE)
    assert not re.search(r"ALL_ADMINS:\s*\"?true", text, re.IGNORECASE)


@pytest.fixture(scope="module")
def compose_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env_file = generated_env()
    api = service(env_file, "airflow-apiserver")
    home = tmp_path_factory.mktemp("compose-api-server")
    (home / "dags").mkdir()
    port = free_port()
    environment = {**clean_environ(), **{k: str(v) for k, v in api["environment"].items()}}
    # What only a container has: its DB server, its folders, its port. Everything else (auth manager,
    # users, all-admins off, JWT secret, Fernet key, executor) is docker-compose.yaml's.
    environment.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{home / 'celery.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "auth" / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
        }
    )
    log = home / "api-server.log"
    with log.open("ab") as out:
        subprocess.run(
            ["airflow", "db", "migrate"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )
        process = subprocess.Popen(
            host_command(api["command"]),
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"api-server exited {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not up after {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield {"base": base, "env": env_file, "home": home, "log": log}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.mark.slow
def test_compose_api_server_refuses_calls_without_a_valid_token(compose_api_server: dict) -> None:
    base = compose_api_server["base"]
    assert requests.get(f"{base}/api/v2/dags", timeout=10).status_code == 401
    forged = requests.get(f"{base}/api/v2/dags", headers={"Authorization": "Bearer not.a.token"}, timeout=10)
    assert forged.status_code in (401, 403)
    # The all-admins token route is off.
    assert requests.get(f"{base}/auth/token", timeout=10).status_code in (403, 405)


@pytest.mark.slow
def test_compose_api_server_hands_a_token_only_for_the_right_password(compose_api_server: dict) -> None:
    base, env = compose_api_server["base"], compose_api_server["env"]
    user = env["AIRFLOW_ADMIN_USERNAME"]
    for body in (
        {"username": user, "password": "admin"},  # pragma: allowlist secret (the old README's guess)
        {"username": user, "password": env["AIRFLOW_ADMIN_PASSWORD"] + "x"},
        {"username": "someone", "password": env["AIRFLOW_ADMIN_PASSWORD"]},
    ):
        response = requests.post(f"{base}/auth/token", json=body, timeout=10)
        assert response.status_code == 401, (body["username"], response.status_code, response.text)
    assert requests.post(f"{base}/auth/token", json={"username": user, "password": ""}, timeout=10).status_code in (
        400,
        401,
    )

    response = requests.post(
        f"{base}/auth/token", json={"username": user, "password": env["AIRFLOW_ADMIN_PASSWORD"]}, timeout=10
    )
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    dags = requests.get(f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert dags.status_code == 200, dags.text
    assert dags.json()["total_entries"] == 0

    passwords = compose_api_server["home"] / "auth" / "passwords.json"
    assert passwords.stat().st_mode & 0o077 == 0, "the passwords file must be private to its owner"
    assert env["AIRFLOW_ADMIN_PASSWORD"] not in compose_api_server["log"].read_text()


# --- the Astro image's entrypoint -----------------------------------------------------------------

# What the Astro CLI's generated project sets for every local Airflow container (astro-cli
# airflow/include/airflow3/composeyml.go.tmpl); its `environment` wins over .env.
ASTRO_CLI_ENV = {
    "ASTRONOMER_ENVIRONMENT": "local",
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    # The Astro CLI's public values for every project (which is why they must be replaced).
    "AIRFLOW__API_AUTH__JWT_SECRET": "ragdag",  # pragma: allowlist secret
    "AIRFLOW__CORE__FERNET_KEY": "d6Vefz3G9U_ynXB3cr7y_Ak35tAHkEGAVxuz_B-jzWw=",  # pragma: allowlist secret
}


def astro_entrypoint(env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's ENTRYPOINT, with the Astro CLI's command replaced by `env`."""
    dockerfile = read_text("Dockerfile")
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.MULTILINE)
    assert entrypoint, "the Dockerfile sets no ENTRYPOINT"
    import json

    command = [part.replace("/usr/local/airflow/scripts", str(REPO / "scripts")) for part in json.loads(entrypoint[1])]
    environment = {**clean_environ(), **env, "AIRFLOW_HOME": str(home)}
    return subprocess.run([*command, "env"], env=environment, capture_output=True, text=True, timeout=60)


def test_astro_entrypoint_turns_all_admins_off_with_the_secrets_of_env(tmp_path: Path) -> None:
    dotenv = generated_env()
    result = astro_entrypoint({**dotenv, **ASTRO_CLI_ENV}, tmp_path)
    assert result.returncode == 0, result.stderr
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert seen["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert seen["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert seen["AIRFLOW__API_AUTH__JWT_SECRET"] == dotenv["AIRFLOW_JWT_SECRET"]
    assert seen["AIRFLOW__CORE__FERNET_KEY"] == dotenv["AIRFLOW_FERNET_KEY"]
    import json

    passwords = json.loads(Path(seen["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())
    assert passwords == {"admin": dotenv["AIRFLOW_ADMIN_PASSWORD"]}


def test_astro_entrypoint_refuses_placeholders_and_leaves_astro_deployments_alone(tmp_path: Path) -> None:
    example = parse_env_file(read_text(".env.example"))
    refused = astro_entrypoint(
        {**generated_env(), "AIRFLOW_JWT_SECRET": example["AIRFLOW_JWT_SECRET"], **ASTRO_CLI_ENV}, tmp_path
    )
    assert refused.returncode == 1 and "AIRFLOW_JWT_SECRET" in refused.stderr
    deployed = astro_entrypoint({**ASTRO_CLI_ENV, "ASTRONOMER_ENVIRONMENT": "cloud"}, tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True" in deployed.stdout


@pytest.mark.slow
def test_compose_api_server_health_check_needs_no_token(compose_api_server: dict) -> None:
    """The healthcheck of airflow-apiserver (which the workers wait for) asks a public endpoint."""
    test = load_yaml(COMPOSE)["services"]["airflow-apiserver"]["healthcheck"]["test"]
    url = next(part for part in test if part.startswith("http://localhost:8080/"))
    path = url.removeprefix("http://localhost:8080")
    assert requests.get(compose_api_server["base"] + path, timeout=10).status_code == 200
