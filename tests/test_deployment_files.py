"""The deployment files (Astro CLI project, Docker Compose), checked without a Docker engine.

Nothing here builds or starts a container: the files must be right by construction, so this test
reads them the way the tools would and checks what can be checked statically:

- both Compose files validate against the Compose Specification schema
  (tests/data/compose-spec.json);
- the table of docs/deployment.md matches the services, ports, volumes and connections of the files;
- docker-compose.override.yml (merged by the Astro CLI, and by a plain `docker compose up` too) only
  repeats services of docker-compose.yaml, and uses no interpolation the Astro CLI cannot resolve;
- the connections (docker-compose.yaml, airflow_settings.yaml, .env.example) point at those services
  and carry the credentials of .env.example's service variables;
- the Celery workers and queues, the OpenLineage transport to Marquez, the authentication settings;
- airflow_settings.yaml, the Dockerfile, packages.txt, .astro/config.yaml, .dockerignore.

That no tracked file holds a credential is the secret-scan gate's (scripts/gates.sh, detect-secrets
with .secrets.baseline; tests/test_ci_gates.py); tests/test_compose_auth.py runs the auth settings.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "tests" / "data" / "compose-spec.json"
COMPOSE = "docker-compose.yaml"
OVERRIDE = "docker-compose.override.yml"
DOC = REPO / "docs" / "deployment.md"
TABLE_HEADING = "## Services, ports, volumes and connections"

CONNECTIONS = {"mongo_default": "mongo", "qdrant_default": "qdrant", "aws_default": "aws"}
SERVER_SERVICES = {"mongodb", "qdrant", "minio", "minio-init"}
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-worker",
    "airflow-worker-embedding",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-init",
}
CELERY_SERVICES = {"redis", "flower"}
LINEAGE_SERVICES = {"marquez", "marquez-db", "marquez-web"}
ONE_SHOT = {"airflow-init", "minio-init", "env-check"}
# Queues of the Celery workers: every queue has a worker, the heavier one takes embedding work.
EMBEDDING_QUEUE = "embedding"
DEFAULT_QUEUE = "default"
# Services of the Compose project the Astro CLI generates for Airflow 3 (astro-cli's
# airflow/include/airflow3/composeyml.go.tmpl); docker-compose.override.yml must not redefine them.
ASTRO_GENERATED = {
    "postgres",
    "db-migration",
    "scheduler",
    "dag-processor",
    "api-server",
    "triggerer",
}
ASTRO_NETWORK = "airflow"
# What the images read from .env through `env_file` (mongo, qdrant, minio images).
SERVICE_ENV_VARS = {
    "MONGO_INITDB_ROOT_USERNAME",
    "MONGO_INITDB_ROOT_PASSWORD",
    "QDRANT__SERVICE__API_KEY",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
}


# --- readers --------------------------------------------------------------------------------------


def read_text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def load_yaml(name: str) -> dict[str, Any]:
    data = yaml.safe_load(read_text(name))  # resolves anchors and `<<` merge keys, like Compose
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def parse_env_file(text: str) -> dict[str, str]:
    """Parse a .env file the way Compose reads one (the subset these files use)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
        assert match, f".env line {number} is not KEY=VALUE: {raw!r}"
        key, value = match.groups()
        if value[:1] in {"'", '"'}:
            assert value.endswith(value[0]) and len(value) >= 2, f"unclosed quote on line {number}"
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        env[key] = value
    return env


_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?", re.DOTALL)


def referenced_variables(text: str) -> set[str]:
    names = set()
    for match in _REFERENCE.finditer(text):
        if match["escaped"]:
            continue
        if match["bare"]:
            names.add(match["bare"])
        else:
            braced = _BRACED.fullmatch(match["braced"])
            assert braced, f"unsupported interpolation ${{{match['braced']}}}"
            names.add(braced["name"])
    return names


def variables_of(data: Any) -> set[str]:
    """Variables interpolated in the values of a parsed Compose file (comments do not count)."""
    if isinstance(data, dict):
        return set().union(set(), *(variables_of(item) for item in data.values()))
    if isinstance(data, list):
        return set().union(set(), *(variables_of(item) for item in data))
    return referenced_variables(data) if isinstance(data, str) else set()


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["bare"]:
            return env.get(match["bare"], "")
        braced = _BRACED.fullmatch(match["braced"])
        assert braced
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        current = env.get(name)
        unset_or_empty = not current if op and op.startswith(":") else current is None
        if op in {":-", "-"}:
            return arg if unset_or_empty else current
        if op in {":?", "?"}:
            if unset_or_empty:
                raise AssertionError(f"required variable {name} is missing: {arg}")
            return current
        return current or ""

    return _REFERENCE.sub(substitute, value)


def published_ports(service: dict[str, Any]) -> dict[int, str]:
    """{published port: host ip} of a service's short-syntax `ports`."""
    result = {}
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) == 3, f"port {entry!r}: give HOST_IP:PUBLISHED:TARGET"
        host_ip, published, _target = parts
        result[int(published)] = host_ip
    return result


def named_volumes(service: dict[str, Any]) -> set[str]:
    names = set()
    for entry in service.get("volumes", []):
        source = str(entry).split(":")[0]
        if not source.startswith((".", "/", "~", "$")):
            names.add(source)
    return names


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def connection_target(conn: dict[str, Any]) -> tuple[str | None, int | None]:
    """(host, port) a connection reaches: its host/port, or its extra's endpoint_url."""
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    if extra.get("endpoint_url"):
        url = urlparse(extra["endpoint_url"])
        return url.hostname, url.port
    return conn.get("host"), conn.get("port")


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def override() -> dict[str, Any]:
    return load_yaml(OVERRIDE)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(read_text(".env.example"))


@pytest.fixture(scope="module")
def compose_resolved(compose: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yaml as `docker compose config` would resolve it with .env = .env.example."""
    return interpolate(compose, env_example)


@pytest.fixture(scope="module")
def settings_yaml() -> dict[str, Any]:
    return load_yaml("airflow_settings.yaml")


@pytest.fixture(scope="module")
def doc_table() -> list[dict[str, str]]:
    """Rows of the services table of docs/deployment.md, as {column header: cell}."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert TABLE_HEADING in lines, f"docs/deployment.md has no '{TABLE_HEADING}' section"
    start = lines.index(TABLE_HEADING)
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    assert len(table) > 2, "the services table is empty"
    header, separator, *rows = table
    assert all(set(cell) <= {"-", ":", " "} for cell in separator)
    return [dict(zip(header, row, strict=True)) for row in rows]


def ticks(cell: str) -> list[str]:
    """The `backticked` names of a table cell."""
    return re.findall(r"`([^`]+)`", cell)


def connection_env(service: dict[str, Any], conn_id: str) -> dict[str, Any]:
    raw = service["environment"][f"AIRFLOW_CONN_{conn_id.upper()}"]
    return json.loads(raw)


# --- the Compose Specification --------------------------------------------------------------------


def test_schema_is_the_unmodified_compose_spec(schema: dict[str, Any]) -> None:
    readme = (SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest in readme, "compose-spec.json changed: it must stay the upstream file (README.md)"
    assert schema["$id"] == "compose_spec.json"
    jsonschema.validators.validator_for(schema).check_schema(schema)


@pytest.mark.parametrize("name", [COMPOSE, OVERRIDE])
def test_compose_file_validates_against_the_compose_spec(name: str, schema: dict[str, Any]) -> None:
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(load_yaml(name)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_resolved_compose_file_validates_too(compose_resolved: dict[str, Any], schema: dict[str, Any]) -> None:
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = list(validator.iter_errors(compose_resolved))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


# --- docker-compose.yaml --------------------------------------------------------------------------


def test_compose_runs_airflow_3_with_celery_executor_and_the_servers(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"postgres", *AIRFLOW_SERVICES, *SERVER_SERVICES, *CELERY_SERVICES} <= set(services)
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {
        "airflow-apiserver": ["bash", "/opt/airflow/scripts/airflow-auth.sh", "run", "airflow", "api-server"],
        "airflow-scheduler": "scheduler",
        "airflow-worker": f"celery worker -q {DEFAULT_QUEUE}",
        "airflow-worker-embedding": f"celery worker -q {EMBEDDING_QUEUE},{DEFAULT_QUEUE}",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    images = {services[name]["image"] for name in AIRFLOW_SERVICES | {"flower", "env-check"}}
    assert len(images) == 1, "every Airflow service runs the one built image"
    for name in AIRFLOW_SERVICES | {"flower"}:
        service = services[name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        mounts = {str(v).split(":")[1] for v in service["volumes"] if str(v).startswith("./")}
        for folder in ("dags", "include", "plugins", "expectations"):
            assert f"/opt/airflow/{folder}" in mounts, f"{name} does not mount {folder}/"
    assert published_ports(services["airflow-apiserver"]) == {8080: "127.0.0.1"}
    assert services["flower"]["command"] == "celery flower"
    off_network = {name for name, service in services.items() if service.get("networks") != [ASTRO_NETWORK]}
    assert not off_network, f"not on the `{ASTRO_NETWORK}` network with the servers: {sorted(off_network)}"


def test_compose_celery_broker_and_queues(compose_resolved: dict[str, Any], env_example: dict[str, str]) -> None:
    services = compose_resolved["services"]
    env = services["airflow-scheduler"]["environment"]
    broker = urlparse(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert broker.password == env_example["REDIS_PASSWORD"], "the broker URL carries redis' password"
    assert services["redis"]["environment"]["REDIS_PASSWORD"] == env_example["REDIS_PASSWORD"]
    assert "requirepass" in services["redis"]["command"][-1]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == DEFAULT_QUEUE
    queues: dict[str, set[str]] = {}
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, str) and command.startswith("celery worker"):
            listed = re.search(r"-q\s+(\S+)", command)
            assert listed, f"{name}: name the worker's queues"
            for queue in listed[1].split(","):
                queues.setdefault(queue, set()).add(name)
            assert "celery@$${HOSTNAME}" in load_yaml(COMPOSE)["services"][name]["healthcheck"]["test"][-1]
            assert service["environment"]["DUMB_INIT_SETSID"] == "0"
    assert queues == {
        DEFAULT_QUEUE: {"airflow-worker", "airflow-worker-embedding"},
        EMBEDDING_QUEUE: {"airflow-worker-embedding"},
    }
    assert services["flower"]["profiles"] == ["flower"], "flower is optional"
    for worker in ("airflow-worker", "airflow-worker-embedding"):
        deps = depends_on(services[worker])
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["airflow-apiserver"]["condition"] == "service_healthy"


def test_compose_sends_openlineage_events_to_marquez(
    compose_resolved: dict[str, Any], env_example: dict[str, str]
) -> None:
    services = compose_resolved["services"]
    assert LINEAGE_SERVICES <= set(services)
    for name in AIRFLOW_SERVICES:
        transport = json.loads(services[name]["environment"]["AIRFLOW__OPENLINEAGE__TRANSPORT"])
        assert transport["type"] == "http"
        url = urlparse(transport["url"])
        assert (url.hostname, url.port) == ("marquez", int(services["marquez"]["environment"]["MARQUEZ_PORT"]))
        assert transport["endpoint"] == "api/v1/lineage"
        assert services[name]["environment"]["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "ragdag"
    marquez = services["marquez"]["environment"]
    db = services["marquez-db"]["environment"]
    assert marquez["POSTGRES_HOST"] == "marquez-db"
    assert (marquez["POSTGRES_USER"], marquez["POSTGRES_DB"]) == (db["POSTGRES_USER"], db["POSTGRES_DB"])
    assert marquez["POSTGRES_PASSWORD"] == db["POSTGRES_PASSWORD"] == env_example["MARQUEZ_DB_PASSWORD"]
    assert depends_on(services["marquez"])["marquez-db"]["condition"] == "service_healthy"
    web = services["marquez-web"]
    assert web["profiles"] == ["lineage-ui"], "the lineage UI is optional"
    assert (web["environment"]["MARQUEZ_HOST"], str(web["environment"]["MARQUEZ_PORT"])) == ("marquez", "5000")
    import importlib.util

    assert importlib.util.find_spec("airflow.providers.openlineage"), "the image installs the provider"


def test_compose_authentication_has_a_user_and_no_all_admins(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES | {"flower"}:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "false", name
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "${AIRFLOW_ADMIN_USERNAME:-admin}:admin"
        assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?")
    # Only the api-server (which checks passwords) gets the admin password.
    holders = {n for n, s in services.items() if "AIRFLOW_ADMIN_PASSWORD" in (s.get("environment") or {})}
    assert holders == {"airflow-apiserver", "env-check"}
    # Flower (it can revoke tasks) asks for the same login.
    flower_auth = services["flower"]["environment"]["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"]
    assert (
        flower_auth == "${AIRFLOW_ADMIN_USERNAME:-admin}:${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD in .env}"
    )
    init_deps = depends_on(services["airflow-init"])
    assert init_deps["env-check"]["condition"] == "service_completed_successfully"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert depends_on(services[name])["airflow-init"]["condition"] == "service_completed_successfully"
    # Every secret of .env.example is checked by env-check.
    secrets = {
        k
        for k in parse_env_file(read_text(".env.example"))
        if k.endswith(("PASSWORD", "SECRET", "SECRET_KEY", "API_KEY", "FERNET_KEY"))
    }
    assert secrets == set(services["env-check"]["environment"]), "env-check must check every secret"


def test_compose_image_matches_the_pinned_airflow_and_python(compose: dict[str, Any]) -> None:
    build = compose["services"]["airflow-scheduler"]["build"]
    dockerfile = build["dockerfile_inline"]
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert base and base[1] == "apache/airflow:3.3.2-python3.11"
    dev_pins = read_text("requirements-dev.txt")
    assert re.search(r"^apache-airflow==3\.3\.2$", dev_pins, re.MULTILINE)
    assert '"apache-airflow==3.3.2" -r /tmp/requirements.txt' in dockerfile
    assert "https://download.pytorch.org/whl/cpu" in dockerfile
    assert "packages.txt" in dockerfile and "ENV PYTHONPATH=/opt/airflow/include" in dockerfile


def test_compose_credentials_are_required_variables(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    text = read_text(COMPOSE)
    for name in SERVICE_ENV_VARS | {
        "POSTGRES_PASSWORD",
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_API_SECRET_KEY",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_ADMIN_PASSWORD",
        "REDIS_PASSWORD",
        "MARQUEZ_DB_PASSWORD",
    }:
        assert re.search(r"\$\{" + name + r":\?", text), f"{name} should be a required ${{{name}:?…}}"
    missing = variables_of(compose) - set(env_example)
    assert not missing, f".env.example lacks variables docker-compose.yaml uses: {sorted(missing)}"


def test_compose_connections_point_at_the_services(
    compose_resolved: dict[str, Any], env_example: dict[str, str]
) -> None:
    scheduler = compose_resolved["services"]["airflow-scheduler"]
    mongo = connection_env(scheduler, "mongo_default")
    assert (mongo["conn_type"], mongo["host"], mongo["port"], mongo["schema"]) == (
        "mongo",
        "mongodb",
        27017,
        "ragdag",
    )
    assert (mongo["login"], mongo["password"]) == (
        env_example["MONGO_INITDB_ROOT_USERNAME"],
        env_example["MONGO_INITDB_ROOT_PASSWORD"],
    )
    qdrant = connection_env(scheduler, "qdrant_default")
    assert (qdrant["conn_type"], qdrant["host"], qdrant["port"]) == ("qdrant", "qdrant", 6333)
    assert qdrant["password"] == env_example["QDRANT__SERVICE__API_KEY"]
    aws = connection_env(scheduler, "aws_default")
    assert aws["conn_type"] == "aws" and aws["extra"]["endpoint_url"] == "http://minio:9000"
    assert (aws["login"], aws["password"]) == (
        env_example["MINIO_ROOT_USER"],
        env_example["MINIO_ROOT_PASSWORD"],
    )
    assert scheduler["environment"]["RAGDAG_OBJECT_STORE_URL"] == "s3://ragdag/platform"


def test_compose_creates_the_pool_and_the_bucket(compose: dict[str, Any]) -> None:
    init_script = "\n".join(compose["services"]["airflow-init"]["command"])
    assert re.search(r"airflow pools set qdrant_local 1 ", init_script)
    assert compose["services"]["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


@pytest.mark.parametrize("name", [COMPOSE, OVERRIDE])
def test_bucket_created_by_minio_init_is_the_object_store_bucket(name: str, env_example: dict[str, str]) -> None:
    script = "\n".join(load_yaml(name)["services"]["minio-init"]["command"])
    created = re.findall(r"mc mb --ignore-existing local/([a-z0-9.-]+)", script)
    bucket = urlparse(env_example["RAGDAG_OBJECT_STORE_URL"]).netloc
    assert created == [bucket] == ["ragdag"]


@pytest.mark.parametrize("name", [COMPOSE, OVERRIDE])
def test_depends_on_conditions_match_the_targets(name: str) -> None:
    services = load_yaml(name)["services"]
    for service_name, service in services.items():
        for target, spec in depends_on(service).items():
            if target not in services:
                assert name == OVERRIDE and target in ASTRO_GENERATED, f"{service_name} -> {target}?"
                continue
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{service_name} waits for {target}'s health"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") in (None, "no"), f"{target} must be one-shot"


@pytest.mark.parametrize("name", [COMPOSE, OVERRIDE])
def test_long_running_services_have_health_checks_and_pinned_images(name: str) -> None:
    for service_name, service in load_yaml(name)["services"].items():
        if "image" in service:
            image = service["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        if service_name not in ONE_SHOT:
            assert "healthcheck" in service, f"{service_name} has no healthcheck"


def test_airflow_services_wait_for_the_servers(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES - {"airflow-init"} | {"flower"}:
        deps = depends_on(compose["services"][name])
        assert deps["postgres"]["condition"] == "service_healthy"
        assert {deps[s]["condition"] for s in ("mongodb", "qdrant")} == {"service_healthy"}
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"


# --- docker-compose.override.yml ------------------------------------------------------------------


def test_override_adds_only_the_servers_on_the_astro_network(override: dict[str, Any]) -> None:
    services = override["services"]
    assert set(services) == SERVER_SERVICES
    assert not set(services) & ASTRO_GENERATED
    for name, service in services.items():
        assert service.get("networks") == [ASTRO_NETWORK], f"{name} must join the Astro network"
        assert service.get("env_file") == ".env", f"{name} takes its credentials from .env"
        assert "image" in service, f"{name} must be complete, not a partial override"
    assert set(override.get("volumes", {})) == set().union(*(named_volumes(s) for s in services.values()))


def test_override_uses_no_interpolation_the_astro_cli_cannot_resolve(
    override: dict[str, Any],
) -> None:
    # The Astro CLI interpolates from the shell environment only, not from .env: only $$ is allowed.
    assert variables_of(override) == set()


def test_override_merges_harmlessly_into_docker_compose(compose: dict[str, Any], override: dict[str, Any]) -> None:
    """A plain `docker compose up` merges docker-compose.override.yml: it must change nothing."""
    assert ASTRO_NETWORK in compose.get("networks", {})
    for name, extra in override["services"].items():
        base = compose["services"][name]
        for key in (
            "image",
            "command",
            "entrypoint",
            "healthcheck",
            "networks",
            "restart",
            "depends_on",
        ):
            assert extra.get(key) == base.get(key), f"{name}.{key} differs between the two files"
        assert set(extra.get("ports", [])) == set(base.get("ports", [])), f"{name}.ports differ"
        assert set(extra.get("volumes", [])) == set(base.get("volumes", [])), f"{name}.volumes differ"
        for key, value in extra.get("environment", {}).items():
            assert base["environment"][key] == value, f"{name}.environment.{key} differs"
    assert set(override["volumes"]) <= set(compose["volumes"])


def test_env_example_has_what_the_override_services_and_astro_read(
    env_example: dict[str, str],
) -> None:
    astro_connections = {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in CONNECTIONS}
    missing = (SERVICE_ENV_VARS | astro_connections | {"RAGDAG_OBJECT_STORE_URL"}) - set(env_example)
    assert not missing, f".env.example lacks {sorted(missing)}"


# --- the table of docs/deployment.md --------------------------------------------------------------


def test_doc_table_matches_the_compose_files(
    doc_table: list[dict[str, str]],
    compose: dict[str, Any],
    override: dict[str, Any],
    compose_resolved: dict[str, Any],
    settings_yaml: dict[str, Any],
) -> None:
    files = {"`docker compose up`": compose, "`astro dev start`": override}
    settings_connections = {c["conn_id"]: c for c in settings_yaml["airflow"]["connections"]}
    documented: dict[str, set[str]] = {column: set() for column in files}
    documented_connections = set()
    for row in doc_table:
        service_name = ticks(row["Service"])[0]
        (image,) = ticks(row["Image"])
        ports = {int(p) for p in re.findall(r"\d+", row["Host ports"])}
        volumes = set(ticks(row["Volumes"]))
        connections = ticks(row["Connection"])
        documented_connections.update(connections)
        for column, data in files.items():
            cell = row[column]
            if cell == "—":  # not in that project
                assert service_name not in data["services"], f"{service_name} is in {column}"
                continue
            if cell.startswith("as "):  # one of the Astro CLI's own services
                assert column == "`astro dev start`" and set(ticks(cell)) <= ASTRO_GENERATED, cell
                continue
            assert cell == "yes", f"{service_name}: unknown cell {cell!r} in {column}"
            documented[column].add(service_name)
            service = data["services"].get(service_name)
            assert service is not None, f"{service_name} (docs) is not a service of {column}"
            assert service.get("image") == image, f"{service_name}: image differs from the docs"
            host_ports = published_ports(service)
            assert set(host_ports) == ports, f"{service_name}: ports {sorted(host_ports)} != docs"
            assert set(host_ports.values()) <= {"127.0.0.1"}, f"{service_name}: bind ports to 127.0.0.1"
            assert named_volumes(service) == volumes, f"{service_name}: volumes differ from the docs"
            assert volumes <= set(data.get("volumes", {})), f"{service_name}: undeclared volume"
        for conn_id in connections:
            assert conn_id in CONNECTIONS
            compose_conn = connection_env(compose_resolved["services"]["airflow-scheduler"], conn_id)
            assert connection_target(compose_conn) == (service_name, min(ports)), conn_id
            settings_conn = settings_connections[conn_id]
            astro_target = connection_target(
                {
                    "host": settings_conn["conn_host"],
                    "port": settings_conn["conn_port"],
                    "extra": settings_conn["conn_extra"],
                }
            )
            assert astro_target == (service_name, min(ports)), conn_id
    assert documented["`docker compose up`"] == set(compose["services"]), "docs table misses services"
    assert documented["`astro dev start`"] == set(override["services"]), "docs table misses services"
    assert documented_connections == set(CONNECTIONS)


# --- airflow_settings.yaml and the Astro connections of .env.example ------------------------------


def test_airflow_settings_define_the_connections_and_the_pool(
    settings_yaml: dict[str, Any],
) -> None:
    airflow = settings_yaml["airflow"]
    connections = {c["conn_id"]: c for c in airflow["connections"]}
    assert {conn_id: c["conn_type"] for conn_id, c in connections.items()} == CONNECTIONS
    mongo, qdrant, aws = (connections[c] for c in CONNECTIONS)
    assert (mongo["conn_host"], mongo["conn_port"], mongo["conn_schema"]) == (
        "mongodb",
        27017,
        "ragdag",
    )
    assert (qdrant["conn_host"], qdrant["conn_port"]) == ("qdrant", 6333)
    assert set(qdrant["conn_extra"]) <= {"url", "grpc_port", "prefer_gprc", "https", "prefix"}
    assert aws["conn_extra"]["endpoint_url"] == "http://minio:9000"
    for conn_id, conn in connections.items():
        assert not conn.get("conn_login") and not conn.get("conn_password"), f"{conn_id}: credentials go in .env"
    pools = {p["pool_name"]: p for p in airflow["pools"]}
    assert set(pools) == {qdrant_pool_of_the_code()}
    assert pools["qdrant_local"]["pool_slot"] == 1


def qdrant_pool_of_the_code() -> str:
    """QDRANT_POOL of ragdag.stores.qdrant (read, not imported), the pool the embed tasks use."""
    tree = ast.parse((REPO / "include" / "ragdag" / "stores" / "qdrant.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["QDRANT_POOL"]:
            return ast.literal_eval(node.value)
    raise AssertionError("ragdag.stores.qdrant has no QDRANT_POOL")


def test_env_example_astro_connections_match_the_settings_and_the_services(
    env_example: dict[str, str], settings_yaml: dict[str, Any]
) -> None:
    settings_connections = {c["conn_id"]: c for c in settings_yaml["airflow"]["connections"]}
    credentials = {
        "mongo_default": ("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"),
        "qdrant_default": (None, "QDRANT__SERVICE__API_KEY"),
        "aws_default": ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
    }
    for conn_id, conn_type in CONNECTIONS.items():
        conn = json.loads(env_example[f"AIRFLOW_CONN_{conn_id.upper()}"])
        settings_conn = settings_connections[conn_id]
        assert conn["conn_type"] == conn_type
        assert connection_target(conn) == connection_target(
            {
                "host": settings_conn["conn_host"],
                "port": settings_conn["conn_port"],
                "extra": settings_conn["conn_extra"],
            }
        )
        login_var, password_var = credentials[conn_id]
        assert conn.get("login") == (env_example[login_var] if login_var else None)
        assert conn["password"] == env_example[password_var]


def test_ragdag_variables_are_settings_fields(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    from ragdag.settings import Settings

    fields = set(Settings.model_fields)
    used = {k for k in env_example if k.startswith("RAGDAG_")}
    used |= {k for k in compose["services"]["airflow-scheduler"]["environment"] if k.startswith("RAGDAG_")}
    unknown = {k for k in used if k.removeprefix("RAGDAG_").lower() not in fields}
    assert not unknown, f"not fields of ragdag.settings.Settings: {sorted(unknown)}"


# --- Astro project files --------------------------------------------------------------------------


def test_dockerfile_builds_from_astro_runtime_3_3() -> None:
    dockerfile = read_text("Dockerfile")
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert len(froms) == 1
    assert re.fullmatch(r"astrocrpublic\.azurecr\.io/runtime:3\.3-\d+(-python-3\.\d+)?", froms[0]), froms[0]
    assert re.search(r"^ENV PYTHONPATH=\"?/usr/local/airflow/include", dockerfile, re.MULTILINE)
    assert re.search(r"^ENV PIP_EXTRA_INDEX_URL=https://download\.pytorch\.org/whl/cpu", dockerfile, re.MULTILINE)
    assert dockerfile.rstrip().endswith("USER astro"), "the image must end as the astro user"
    entrypoint = re.findall(r"^ENTRYPOINT\s+(.+)$", dockerfile, re.MULTILINE)
    assert entrypoint == ['["bash", "/usr/local/airflow/scripts/airflow-auth.sh", "astro"]']
    assert (REPO / "scripts" / "airflow-auth.sh").is_file()


def test_packages_txt_installs_git() -> None:
    assert "git" in read_text("packages.txt").split()


def test_astro_project_is_named_ragdag() -> None:
    assert load_yaml(".astro/config.yaml")["project"]["name"] == "ragdag"


def test_dockerignore_keeps_local_state_out_and_build_inputs_in() -> None:
    entries = {line.strip() for line in read_text(".dockerignore").splitlines()}
    entries.discard("")
    assert {".venv", "data/", "airflow_home/", "test-output/", ".git", ".env"} <= entries
    for needed in (
        "requirements.txt",
        "packages.txt",
        "dags",
        "include",
        "plugins",
        "expectations",
        "scripts",  # the Astro image's entrypoint is scripts/airflow-auth.sh
    ):
        assert not any(entry.strip("/") == needed for entry in entries), f"{needed} must reach the build"
