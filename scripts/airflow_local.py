"""A real Airflow on this machine with the bundle's DAGs: what ``scripts/e2e.py`` and the e2e tests drive.

Part of the end-to-end harness, not of the deployed package: ``scripts/e2e.py`` imports it from
beside itself, and the tests as ``import airflow_local`` (pytest's ``pythonpath`` in pyproject.toml
holds ``scripts/``).

:func:`local_airflow` starts the four Airflow 3 components (``api-server``, ``scheduler``,
``dag-processor``, ``triggerer``) from the venv, each in its own process group, in a fresh
``AIRFLOW_HOME`` (a temporary folder: SQLite metadata DB, logs, DAG bundle state), with:

- the DAGs of ``dags/`` (and no example DAGs), created paused and unpaused once parsed;
- ``LocalExecutor`` on the SQLite metadata DB, with a low parallelism (Airflow 3.3 has no
  SequentialExecutor any more: LocalExecutor is its default and ``airflow standalone`` runs it on
  SQLite too; the default parallelism of 32 would start 32 workers), and the one-slot pool
  ``qdrant_local`` the DAGs need;
- or, with ``executor="celery"``, the ``CeleryExecutor`` (apache-airflow-providers-celery): a
  ``redis-server`` (Debian's package, on a free loopback port, no persistence) as the broker and
  result backend, and ``celery_workers`` workers (``airflow celery worker``), each with its own
  Celery hostname, log-server port and task hostname (``LOCAL_WORKER_HOSTNAME`` through
  ``scripts/worker_hostname.py``), taking the queues ``embedding`` and ``default``. The metadata
  DB stays SQLite: workers reach Airflow only through the api-server's Execution API;
- the simple auth manager with one admin user whose password is known (written to the passwords
  file before the api-server starts, so it generates none);
- the api-server on a free loopback port, and free ports for the worker and triggerer log servers,
  so several of these can run side by side;
- the ragdag stores pointed at ``data_dir`` (Qdrant local mode, object store) and at ``mongo_uri``
  (the ``mongo_default`` connection) when given, loopback crawling allowed.

It waits until ``/api/v2/monitor/health`` reports every component healthy and the five DAGs are
parsed, then unpauses them, and on exit stops every process group (SIGTERM, then SIGKILL); a small
watchdog process does the same if the caller dies without stopping them. Component logs are in
``<home>/logs/<component>.log``.

**No cron.** ``RAGDAG_CRAWL_SCHEDULE`` is empty, so ``crawl_sources`` has no time schedule (REST
triggers only): Airflow never creates a run for a missed cron tick, which would crawl the public
sites of ``include/sources.yaml``. And ``RAGDAG_SOURCES_FILE`` points at an empty sources file: a
run triggered without a conf crawls nothing either; this Airflow never leaves the machine.

The second half drives it over the REST API with the official client (``apache-airflow-client``):
:func:`api_client`, :func:`trigger_dag`, :func:`wait_for_run`, :func:`wait_for_chain` (every DAG of
the chain started by the Asset event of the one before; the chain is ``ragdag.assets.CHAIN_DAG_IDS``),
:func:`failure_report`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from ragdag.assets import CHAIN_DAG_IDS
from ragdag.local_ports import free_port
from ragdag.observability.openlineage import openlineage_env
from ragdag.settings import PROJECT_ROOT
from ragdag.stores.mongo import as_airflow_mongo_conn
from ragdag.stores.qdrant import QDRANT_POOL

if TYPE_CHECKING:
    from airflow_client.client import ApiClient
    from airflow_client.client.models import DAGRunResponse

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
CELERY_QUEUES = "embedding,default"  # the embedding queue of embed_documents, and every other task
SCRIPTS_DIR = Path(__file__).resolve().parent
REDIS_SERVER = "redis-server"
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
DEFAULT_USERNAME = "admin"
FINISHED = ("success", "failed")


class AirflowStartError(RuntimeError):
    """Airflow did not come up: the message names the component and ends with its log tail."""


class ChainFailed(AssertionError):
    """A run of the chain failed or did not finish in time: the message says which, and why."""


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Starting and stopping
# --------------------------------------------------------------------------------------------


@dataclass
class LocalAirflow:
    """A running local Airflow: where it is, how to log in, its processes."""

    home: Path
    base_url: str
    username: str
    password: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    watchdog: subprocess.Popen | None = None

    def log_path(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def log_tail(self, component: str, lines: int = 40) -> str:
        return _tail(self.log_path(component), lines)

    def token(self, timeout_s: float = 30.0) -> str:
        """A JWT for the REST API: ``POST /auth/token`` with the user's name and password."""
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=timeout_s,
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST /auth/token: {response.status_code} {response.text[:500]}")
        return str(response.json()["access_token"])

    def health(self, timeout_s: float = 5.0) -> dict:
        response = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=timeout_s)
        response.raise_for_status()
        return dict(response.json())

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AirflowStartError(
                    f"airflow {name} exited with {process.returncode}; last lines of "
                    f"{self.log_path(name)}:\n{self.log_tail(name)}"
                )

    def wait_healthy(self, timeout_s: float = 180.0) -> dict:
        """Wait until the metadata DB, scheduler, triggerer and dag-processor are all healthy."""
        deadline = time.monotonic() + timeout_s
        last: object = "no answer yet"
        while True:
            self.check_alive()
            try:
                last = self.health()
                if all(last.get(c, {}).get("status") == "healthy" for c in HEALTH_COMPONENTS):
                    return last
            except requests.RequestException as error:
                last = error
            if time.monotonic() > deadline:
                raise AirflowStartError(
                    f"Airflow at {self.base_url} not healthy after {timeout_s:.0f}s: {last}\n"
                    + "\n".join(f"--- {c} ---\n{self.log_tail(c, 15)}" for c in COMPONENTS)
                )
            time.sleep(1.0)

    def wait_for_dags(self, dag_ids: tuple[str, ...] | list[str], timeout_s: float = 120.0) -> None:
        """Wait until the dag-processor has stored every DAG in ``dag_ids``; fail on import errors."""
        deadline = time.monotonic() + timeout_s
        headers = {"Authorization": f"Bearer {self.token()}"}
        while True:
            self.check_alive()
            response = requests.get(f"{self.base_url}/api/v2/dags", params={"limit": 100}, headers=headers, timeout=10)
            response.raise_for_status()
            missing = set(dag_ids) - {d["dag_id"] for d in response.json()["dags"]}
            errors = requests.get(f"{self.base_url}/api/v2/importErrors", headers=headers, timeout=10).json()
            if errors.get("total_entries"):
                details = "\n".join(f"{e['filename']}: {e['stack_trace'][-1500:]}" for e in errors["import_errors"])
                raise AirflowStartError(f"DAG import errors:\n{details}")
            if not missing:
                return
            if time.monotonic() > deadline:
                raise AirflowStartError(
                    f"DAGs not parsed after {timeout_s:.0f}s: {sorted(missing)}\n{self.log_tail('dag-processor')}"
                )
            time.sleep(1.0)

    @property
    def workers(self) -> list[str]:
        """The Celery workers' task hostnames (empty on the LocalExecutor)."""
        return [name for name in self.processes if name.startswith("worker-")]

    def wait_for_workers(self, timeout_s: float = 120.0) -> None:
        """Wait until every Celery worker says it is ready (its log's ``celery@... ready.``)."""
        deadline = time.monotonic() + timeout_s
        for name in self.workers:
            while "ready." not in _tail(self.log_path(name), 200):
                self.check_alive()
                if time.monotonic() > deadline:
                    raise AirflowStartError(f"Celery {name} not ready after {timeout_s:.0f}s:\n{self.log_tail(name)}")
                time.sleep(0.5)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every component's process group (scheduler first), SIGKILL what is left."""
        order = [
            c
            for c in ("scheduler", *self.workers, "triggerer", "dag-processor", "api-server", "redis")
            if c in self.processes
        ]
        for name in order:
            _signal_group(self.processes[name], signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name in order:
            process = self.processes[name]
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Kill what the component left in its group (executor workers, task supervisors, ...).
            _signal_group(process, signal.SIGKILL)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.watchdog is not None and self.watchdog.poll() is None:
            self.watchdog.kill()
            self.watchdog.wait(timeout=5)


# Stops the components if the process that started them dies without stopping them (SIGKILL, a
# crash): they run in process groups of their own, so nothing else would.
_WATCHDOG = """
import os, signal, sys, time
parent, groups = int(sys.argv[1]), [int(g) for g in sys.argv[2:]]
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
while alive(parent) and os.getppid() == parent:
    time.sleep(1)
for sig in (signal.SIGTERM, signal.SIGKILL):
    for group in groups:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
    time.sleep(10)
"""


def _start_watchdog(processes: Mapping[str, subprocess.Popen]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), *(str(p.pid) for p in processes.values())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives a kill of the caller's process group, to clean up after it
    )


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the component leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def airflow_env(
    home: Path,
    port: int,
    data_dir: Path,
    *,
    mongo_uri: str | None = None,
    username: str = DEFAULT_USERNAME,
    parallelism: int = 4,
    executor: str = "local",
    broker_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every component.

    This process's environment without its Airflow and ragdag settings (``AIRFLOW_HOME``,
    ``AIRFLOW__*``, ``AIRFLOW_CONN_*``, ``RAGDAG_*``: a developer's shell must not point the test
    platform at their own servers), plus the settings below, plus ``extra_env``.
    """
    venv_bin = str(Path(sys.executable).parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "RAGDAG_")) and k != "AIRFLOW_HOME"
    }
    base_url = f"http://127.0.0.1:{port}"
    env.update(
        {
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),  # the "RAG platform" page
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Created paused, unpaused by start_local_airflow once parsed (only the DAGs it runs).
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": EXECUTORS[executor],
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            # The ragdag stores: all under data_dir, loopback crawling allowed, a short politeness
            # delay; no cron, and a run without conf crawls nothing (the REST conf names what to crawl).
            "RAGDAG_CRAWL_SCHEDULE": "",
            "RAGDAG_DATA_DIR": str(data_dir),
            "RAGDAG_SOURCES_FILE": str(home / "sources.yaml"),
            "RAGDAG_ALLOW_PRIVATE_NETWORKS": "true",
            "RAGDAG_PER_HOST_DELAY_S": "0.05",
        }
    )
    if mongo_uri:
        env["AIRFLOW_CONN_MONGO_DEFAULT"] = as_airflow_mongo_conn(mongo_uri)
    if executor == "celery":
        if not broker_url:
            raise ValueError("the CeleryExecutor needs a broker_url (redis://...)")
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": broker_url.rsplit("/", 1)[0] + "/1",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
                # scripts/ for worker_hostname (the hostname callable of the workers' task instances).
                "PYTHONPATH": os.pathsep.join(p for p in (str(SCRIPTS_DIR), env.get("PYTHONPATH", "")) if p),
            }
        )
    env.update(openlineage_env(data_dir))  # OpenLineage events of every task into the data dir
    env.update(extra_env or {})
    return env


def start_redis(home: Path, port: int) -> subprocess.Popen:
    """A throw-away ``redis-server`` on ``127.0.0.1:port`` (no persistence), its own process group."""
    import shutil

    if shutil.which(REDIS_SERVER) is None:
        raise AirflowStartError(
            "redis-server is not installed (Debian package redis-server; scripts/bootstrap.sh installs it as root)"
        )
    folder = home / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    with (home / "logs" / "redis.log").open("ab") as log:
        process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--protected-mode",
                "yes",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AirflowStartError(
                f"redis-server did not start on port {port}:\n{_tail(home / 'logs' / 'redis.log', 20)}"
            )
        time.sleep(0.1)


def worker_env(env: Mapping[str, str], hostname: str) -> dict[str, str]:
    """One Celery worker's environment: its task hostname and its own log-server port."""
    from worker_hostname import HOSTNAME_VARIABLE

    return {
        **env,
        HOSTNAME_VARIABLE: hostname,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }


def _run_cli(args: list[str], env: dict[str, str], log: Path, timeout_s: float = 300.0) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            ["airflow", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    if result.returncode != 0:
        raise AirflowStartError(f"airflow {' '.join(args)} exited with {result.returncode}:\n{_tail(log, 30)}")


def start_local_airflow(
    data_dir: Path,
    *,
    mongo_uri: str | None = None,
    home: Path | None = None,
    port: int | None = None,
    username: str = DEFAULT_USERNAME,
    password: str | None = None,
    parallelism: int = 4,
    dag_ids: tuple[str, ...] = CHAIN_DAG_IDS,
    extra_env: Mapping[str, str] | None = None,
    timeout_s: float = 180.0,
    executor: str = "local",
    celery_workers: int = 2,
) -> LocalAirflow:
    """Migrate the DB, create the pool, start the components (and redis and the Celery workers with
    ``executor="celery"``), wait until healthy, unpause."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r}: use one of {sorted(EXECUTORS)}")
    home = Path(home or tempfile.mkdtemp(prefix="ragdag-airflow-"))
    (home / "logs").mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    password = password or secrets.token_urlsafe(12)
    redis = None
    broker_url = None
    if executor == "celery":
        redis_port = free_port()
        redis = start_redis(home, redis_port)
        broker_url = f"redis://127.0.0.1:{redis_port}/0"
    env = airflow_env(
        home,
        port,
        data_dir,
        mongo_uri=mongo_uri,
        username=username,
        parallelism=parallelism,
        executor=executor,
        broker_url=broker_url,
        extra_env=extra_env,
    )
    # The simple auth manager only generates passwords for users missing from this file.
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text(json.dumps({username: password}) + "\n")
    Path(env["RAGDAG_SOURCES_FILE"]).write_text(
        "# Written by scripts/airflow_local.py: runs of this local Airflow without a conf crawl nothing.\nauthors: []\n"
    )
    airflow = LocalAirflow(home, f"http://127.0.0.1:{port}", username, password, env)
    if redis is not None:
        airflow.processes["redis"] = redis
    setup_log = home / "logs" / "setup.log"
    try:
        _run_cli(["db", "migrate"], env, setup_log)
        _run_cli(["pools", "set", QDRANT_POOL, "1", "Qdrant local mode: one process per storage path"], env, setup_log)
    except BaseException:
        airflow.stop()
        raise
    commands = {name: (["airflow", name], env) for name in COMPONENTS}
    if executor == "celery":
        for number in range(1, celery_workers + 1):
            name = f"worker-{number}"
            commands[name] = (
                ["airflow", "celery", "worker", "--celery-hostname", f"{name}@%h", "-q", CELERY_QUEUES],
                worker_env(env, name),
            )
    try:
        for name, (command, component_env) in commands.items():
            with airflow.log_path(name).open("ab") as log:
                airflow.processes[name] = subprocess.Popen(
                    command,
                    env=component_env,
                    cwd=home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        airflow.watchdog = _start_watchdog(airflow.processes)
        airflow.wait_healthy(timeout_s)
        airflow.wait_for_workers(timeout_s)
        airflow.wait_for_dags(dag_ids, timeout_s)
        with api_client(airflow) as client:
            unpause(client, dag_ids)
    except BaseException:
        airflow.stop()
        raise
    return airflow


@contextmanager
def local_airflow(data_dir: Path, **kwargs: Any) -> Iterator[LocalAirflow]:
    """:func:`start_local_airflow` as a context manager that always stops it."""
    airflow = start_local_airflow(data_dir, **kwargs)
    try:
        yield airflow
    finally:
        airflow.stop()


# --------------------------------------------------------------------------------------------
# Driving it over the REST API (apache-airflow-client)
# --------------------------------------------------------------------------------------------


@contextmanager
def api_client(airflow: LocalAirflow) -> Iterator[ApiClient]:
    """An ``airflow_client.client.ApiClient`` logged in with a token from ``POST /auth/token``."""
    import airflow_client.client as af

    configuration = af.Configuration(host=airflow.base_url, access_token=airflow.token())
    with af.ApiClient(configuration) as client:
        yield client


def unpause(client: ApiClient, dag_ids: tuple[str, ...] | list[str]) -> None:
    """``PATCH /api/v2/dags/{dag_id}`` with ``is_paused: false`` for each of ``dag_ids``."""
    import airflow_client.client as af

    dags = af.DAGApi(client)
    for dag_id in dag_ids:
        dags.patch_dag(dag_id, af.DAGPatchBody(is_paused=False), update_mask=["is_paused"])


def trigger_dag(client: ApiClient, dag_id: str, conf: dict | None = None, *, note: str | None = None) -> DAGRunResponse:
    """``POST /api/v2/dags/{dag_id}/dagRuns`` with ``logical_date: null`` (a run "now")."""
    import airflow_client.client as af

    body = af.TriggerDAGRunPostBody(logical_date=None, conf=conf or {}, note=note)
    return af.DagRunApi(client).trigger_dag_run(dag_id, body)


def _state(value: object) -> str:
    return str(getattr(value, "value", value))


def wait_for_run(client: ApiClient, dag_id: str, run_id: str, timeout_s: float, poll_s: float = 2.0) -> DAGRunResponse:
    """Poll one run until it is success or failed; :class:`ChainFailed` on timeout."""
    import airflow_client.client as af

    runs = af.DagRunApi(client)
    deadline = time.monotonic() + timeout_s
    while True:
        run = runs.get_dag_run(dag_id, run_id)
        if _state(run.state) in FINISHED:
            return run
        if time.monotonic() > deadline:
            raise ChainFailed(
                f"{dag_id} run {run_id} still {_state(run.state)} after {timeout_s:.0f}s\n"
                + failure_report(client, dag_id, run_id)
            )
        time.sleep(poll_s)


@dataclass
class ChainRun:
    dag_id: str
    run_id: str
    run_type: str
    state: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None

    @property
    def seconds(self) -> float:
        """How long the run ran (start to end)."""
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return float("nan")

    @classmethod
    def of(cls, run: DAGRunResponse) -> ChainRun:
        return cls(
            run.dag_id,
            run.dag_run_id,
            _state(run.run_type),
            _state(run.state),
            run.queued_at,
            run.start_date,
            run.end_date,
        )


def wait_for_chain(
    client: ApiClient,
    first_run_id: str,
    chain: tuple[str, ...] = CHAIN_DAG_IDS,
    *,
    timeout_s: float,
    poll_s: float = 2.0,
    on_run: Callable[[ChainRun], None] | None = None,
) -> list[ChainRun]:
    """Follow a chain run by run: each DAG's run must be one started by the Asset event of the previous run.

    Returns the finished runs in chain order (all success). The chain ends early, with fewer runs,
    when a run succeeds without emitting an Asset event: the DAG decided nothing downstream is due
    (``build_instruct_dataset`` on unchanged data publishes no version and triggers no training).
    Raises :class:`ChainFailed` naming the DAG, its run, its failed tasks and their log tails when
    one fails, or when the time is up.
    """
    import airflow_client.client as af

    runs_api = af.DagRunApi(client)
    deadline = time.monotonic() + timeout_s
    finished: list[ChainRun] = []
    dag_id, run_id = chain[0], first_run_id
    previous: ChainRun | None = None  # the last finished run: the next DAG's run must come from it
    checked: set[tuple[str, str]] = set()
    while True:
        if run_id is not None:
            run = runs_api.get_dag_run(dag_id, run_id)
            if _state(run.state) == "failed":
                raise ChainFailed(
                    f"{dag_id} run {run_id} failed (chain so far: "
                    + (", ".join(f"{r.dag_id} ok" for r in finished) or "nothing")
                    + ")\n"
                    + failure_report(client, dag_id, run_id)
                )
            if _state(run.state) == "success":
                done = ChainRun.of(run)
                finished.append(done)
                if on_run:
                    on_run(done)
                if len(finished) == len(chain) or not _emitted_an_event(client, done):
                    return finished
                previous = done
                dag_id, run_id = chain[len(finished)], None
                continue
        elif previous is not None:
            run_id = _asset_triggered_run(runs_api, dag_id, previous, checked)
            if run_id is not None:
                continue
        if time.monotonic() > deadline:
            if run_id or previous is None:
                waiting = f"{dag_id} run {run_id} did not finish"
            else:
                queued = runs_api.get_dag_runs(dag_id, state=["queued"], limit=1).total_entries
                waiting = f"no {dag_id} run started by the Asset event of {previous.dag_id} run {previous.run_id}" + (
                    f" ({queued} {dag_id} run(s) queued, not started)" if queued else ""
                )
            raise ChainFailed(
                f"chain timed out after {timeout_s:.0f}s: {waiting} (done: "
                + (", ".join(f"{r.dag_id} {r.seconds:.1f}s" for r in finished) or "nothing")
                + ")\n"
                + (failure_report(client, dag_id, run_id) if run_id else "")
            )
        time.sleep(poll_s)


def _emitted_an_event(client: ApiClient, run: ChainRun) -> bool:
    """Did this run emit an Asset event? (True when the API cannot tell: keep waiting.)"""
    import airflow_client.client as af
    from airflow_client.client.exceptions import ApiException

    try:
        events = af.AssetApi(client).get_asset_events(source_dag_id=run.dag_id, source_run_id=run.run_id, limit=1)
    except ApiException:  # Airflow 3.3.2 answers 500 while a run that an event created is queued
        return True
    return bool(events.total_entries)


def _asset_triggered_run(runs_api: Any, dag_id: str, previous: ChainRun, checked: set[tuple[str, str]]) -> str | None:
    """The run of ``dag_id`` whose triggering Asset events include one emitted by ``previous``."""
    from airflow_client.client.exceptions import ServiceException

    candidates = runs_api.get_dag_runs(dag_id, run_type=["asset_triggered"], order_by=["-run_after"], limit=20)
    for run in candidates.dag_runs:
        key = (dag_id, run.dag_run_id)
        if key in checked:
            continue
        if run.start_date is None:
            # Airflow 3.3 answers 500 for the upstream events of a run not started yet (its
            # created_dagruns entry has no start_date): ask again on the next poll.
            continue
        try:
            events = runs_api.get_upstream_asset_events(dag_id, run.dag_run_id).asset_events
        except ServiceException:  # the same 500, should another run of those events still be queued
            continue
        if any(e.source_dag_id == previous.dag_id and e.source_run_id == previous.run_id for e in events):
            return str(run.dag_run_id)
        if _state(run.state) in FINISHED:
            checked.add(key)  # finished and not ours: its triggering events will not change
    return None


def failure_report(client: ApiClient, dag_id: str, run_id: str, log_lines: int = 25) -> str:
    """The run's task states, and the log tail of every failed (or retrying) task."""
    import airflow_client.client as af

    tis_api = af.TaskInstanceApi(client)
    try:
        tis = tis_api.get_task_instances(dag_id, run_id).task_instances
    except Exception as error:  # the report must not hide the failure it reports
        return f"(task instances not reachable: {error})"
    lines = [f"tasks of {dag_id} / {run_id}:"]
    for ti in sorted(tis, key=lambda t: (t.task_id, t.map_index)):
        name = ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")
        lines.append(f"  {name}: {_state(ti.state)} (try {ti.try_number})")
    for ti in tis:
        if _state(ti.state) not in ("failed", "up_for_retry"):
            continue
        name = ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")
        lines.append(f"--- log of {name}, try {ti.try_number} (last {log_lines} lines) ---")
        lines.append(task_log_tail(client, dag_id, run_id, ti.task_id, ti.try_number, ti.map_index, log_lines))
    return "\n".join(lines)


def task_log_tail(
    client: ApiClient, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1, lines: int = 25
) -> str:
    """The last ``lines`` lines of one try's log, read over the REST API."""
    import airflow_client.client as af

    try:
        # Read undecoded: the generated model of the log content keeps only "event" and "timestamp"
        # of each structured line, and the level and the exception are what a failure report needs.
        response = af.TaskInstanceApi(client).get_log_without_preload_content(
            dag_id,
            run_id,
            task_id,
            try_number,
            full_content=True,
            map_index=map_index,
            accept="application/json",
        )
        if response.status != 200:
            return f"(log not reachable: HTTP {response.status} {response.data[:300]!r})"
        content = json.loads(response.data)["content"]
    except Exception as error:
        return f"(log not reachable: {error})"
    if isinstance(content, str):
        text_lines = content.splitlines()
    else:
        text_lines = [_log_line(item) for item in content or []]
    return "\n".join(text_lines[-lines:])


def _log_line(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    line = f"{item.get('timestamp', '')} {str(item.get('level', '')).upper()} {item.get('event', '')}".strip()
    for error in item.get("error_detail") or []:
        line += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
    return line
