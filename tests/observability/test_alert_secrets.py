"""No alert channel's secret in any log (break 2 of issue 25): a Slack webhook's path is its secret,
and requests' errors repeat the whole URL (``Max retries exceeded with url: /services/T…/B…/…``),
which ``log.exception`` wrote into task and dag-processor logs the viewer role can read.

The channels are real: a loopback server that answers 500, and a port nobody listens on.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ragdag.observability.notifications import Notice, NoticeKind, send_notice
from ragdag.stores.connections import connection_secrets, find_connection

SLACK_PATH = "services/T0FAKETEAM/B0FAKEHOOK/NotARealSlackSecret1234"  # pragma: allowlist secret
WEBHOOK_PATH = "hook/DeadPortWebhookSecret5678"  # pragma: allowlist secret
SECRETS = ("NotARealSlackSecret1234", "DeadPortWebhookSecret5678", "B0FAKEHOOK")


@pytest.fixture
def failing_channels(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Slack wired to a loopback server answering 500, the webhook to a dead port; the server's URL."""

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("AIRFLOW_CONN_RAGDAG_ALERT_SLACK", f"{url}/{SLACK_PATH}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_RAGDAG_ALERT_WEBHOOK",
        json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{dead_port}/{WEBHOOK_PATH}"}),
    )
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_failing_channels_log_host_and_status_never_the_secret(
    settings, failing_channels, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    notice = Notice(kind=NoticeKind.TASK_FAILED, dag_id="d", task_id="t", run_id="r", what="it broke")
    # INFO, Airflow's level: at DEBUG urllib3 logs each request line, which the masker redacts
    # in Airflow's logs (next test) but not in pytest's capture.
    with caplog.at_level(logging.INFO):
        sent = send_notice(notice)

    assert sent == ["LocalNotifier"]  # the two failing channels did not stop the local one
    port = failing_channels.rsplit(":", 1)[1]
    assert f"POST to http://127.0.0.1:{port} answered HTTP 500" in caplog.text
    assert "failed: ConnectionError" in caplog.text
    out, err = capfd.readouterr()
    assert _leaks(caplog.text + out + err) == []


def test_a_connections_secret_parts_are_registered_with_the_masker(settings, failing_channels) -> None:
    from airflow.sdk.log import _secrets_masker

    slack = find_connection(settings.alert_slack_conn_id)
    assert SLACK_PATH in connection_secrets(slack)  # the URI form keeps the path as the schema
    redacted = _secrets_masker().redact(f"error posting to {failing_channels}/{SLACK_PATH}")
    assert _leaks(redacted) == []

    os.environ["AIRFLOW_CONN_TOKENED"] = json.dumps(
        {"conn_type": "http", "host": "api.example.com", "extra": {"bearer": {"x-auth-header": "ExtraTokenValue9"}}}
    )
    try:
        find_connection("tokened")
        assert "ExtraTokenValue9" not in _secrets_masker().redact("sent ExtraTokenValue9")
    finally:
        del os.environ["AIRFLOW_CONN_TOKENED"]


def test_a_failed_dag_run_writes_no_secret_in_any_log(
    tiny_dags, settings, failing_channels, mongo_db, capfd: pytest.CaptureFixture[str]
) -> None:
    started = time.time()
    dag_run = tiny_dags["alerts_failing"].test()

    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    assert settings.alerts_file.exists()  # the failure callback ran its channels
    out, err = capfd.readouterr()
    assert _leaks(out + err) == []
    home = Path(os.environ["AIRFLOW_HOME"])
    written = [p for p in home.rglob("*") if p.is_file() and p.stat().st_mtime >= started]
    written += [p for p in settings.data_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".jsonl")]
    for path in written:
        assert _leaks(path.read_text(errors="replace")) == [], path
