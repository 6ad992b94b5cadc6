"""Fixtures of the observability tests: a real webhook receiver (Airflow's metadata DB: tests/conftest.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TINY_DAGS = Path(__file__).parent / "dags" / "tiny_dags.py"


@pytest.fixture(scope="module")
def tiny_dags(airflow_db) -> dict:
    """The DAGs of ``dags/tiny_dags.py``, serialized into Airflow's DB as the dag processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(TINY_DAGS))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)
    return bag.dags


class Receiver:
    """A real HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A receiver wired as the generic webhook connection of the alerts."""
    receiver = Receiver()
    monkeypatch.setenv(
        "AIRFLOW_CONN_RAGDAG_ALERT_WEBHOOK", json.dumps({"conn_type": "http", "host": receiver.url + "/hook"})
    )
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A receiver wired as the Slack incoming-webhook connection (URI form, as Slack gives it)."""
    receiver = Receiver()
    monkeypatch.setenv("AIRFLOW_CONN_RAGDAG_ALERT_SLACK", receiver.url + "/services/T0/B0/x")
    try:
        yield receiver
    finally:
        receiver.close()
