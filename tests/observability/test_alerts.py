"""Alerts: a failed DAG run sends exactly one notice per channel; a breach alerts once per run."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from ragdag.observability.notifications import ALERTS, NoticeKind, alert_breach
from ragdag.stores.mongo import RUNS


def test_a_failing_task_sends_exactly_one_notice_with_its_fields(tiny_dags, settings, webhook, slack, mongo_db) -> None:
    dag_run = tiny_dags["alerts_failing"].test()

    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    (notice,) = webhook.bodies
    assert notice["kind"] == "task_failed"
    assert notice["dag_id"] == "alerts_failing" and notice["task_id"] == "second"
    assert notice["run_id"] == dag_run.run_id
    assert "AirflowFailException: the sources file names no author" in notice["what"]
    assert notice["log_url"].endswith(f"/dags/alerts_failing/runs/{quote(dag_run.run_id)}/tasks/second?try_number=1")
    (slack_message,) = slack.bodies
    assert set(slack_message) == {"text"} and "the sources file names no author" in slack_message["text"]
    assert slack.paths == ["/services/T0/B0/x"]
    (line,) = settings.alerts_file.read_text().splitlines()
    assert json.loads(line)["run_id"] == dag_run.run_id

    # The run records of both tasks have the same fields; the failed one keeps its error.
    records = {r["task_id"]: r for r in mongo_db[RUNS].find({"run_id": dag_run.run_id})}
    assert records["first"]["status"] == "success" and records["second"]["status"] == "failed"
    assert set(records["first"]) == set(records["second"])
    assert records["first"]["counts_out"] == {"sources": 2, "new": 2}  # its return value
    assert records["second"]["error"] == "AirflowFailException: the sources file names no author"
    assert records["second"]["trigger"]["kind"] == "manual"


def test_a_successful_run_sends_nothing(tiny_dags, settings, webhook, mongo_db) -> None:
    dag_run = tiny_dags["alerts_passing"].test()

    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    assert webhook.bodies == [] and not settings.alerts_file.exists()
    second = mongo_db[RUNS].find_one({"run_id": dag_run.run_id, "task_id": "second"})
    assert second["status"] == "success" and second["error"] is None
    (emitted,) = second["assets_emitted"]
    assert emitted["asset_name"] == "tiny_output" and emitted["extra"] == {"new": 2, "unchanged": 0}
    assert second["counts_out"] == {"new": 2, "unchanged": 0}
    assert second["code_version"]["package_version"] and len(second["settings_hash"]) == 16


def test_a_breach_alerts_once_per_run_and_kind(settings, webhook, mongo_db) -> None:
    def breach(run_id: str, kind: NoticeKind = NoticeKind.RETRIEVAL_HIT_RATE):
        return alert_breach(
            settings, kind, what="retrieval hit rate 0.20 below 0.50", value=0.2, threshold=0.5, run_id=run_id
        )

    # One breach per document of a batch: still one notice for the run.
    sent = [breach("run-1") for _ in range(5)]
    assert sent[0] is not None and sent[1:] == [None] * 4
    (notice,) = webhook.bodies
    assert notice["kind"] == "retrieval_hit_rate" and notice["value"] == 0.2 and notice["threshold"] == 0.5
    assert notice["run_id"] == "run-1"

    breach("run-1", NoticeKind.DRIFT)
    breach("run-2")
    assert [(b["run_id"], b["kind"]) for b in webhook.bodies] == [
        ("run-1", "retrieval_hit_rate"),
        ("run-1", "drift"),
        ("run-2", "retrieval_hit_rate"),
    ]
    assert mongo_db[ALERTS].count_documents({}) == 3


def test_a_channel_that_is_down_does_not_stop_the_others(settings, webhook, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RAGDAG_ALERT_SLACK", "http://127.0.0.1:9/services/down")  # discard port: refused
    notice = alert_breach(settings, NoticeKind.DRIFT, what="drift", run_id="run-x")

    assert notice is not None and len(webhook.bodies) == 1
    assert json.loads(settings.alerts_file.read_text())["kind"] == "drift"


@pytest.mark.parametrize("value", ["http://hooks.example/services/T/B/X"])
def test_the_webhook_url_can_be_the_host_or_the_uri_parts(value) -> None:
    from airflow.sdk import Connection

    from ragdag.observability.notifications import connection_url

    assert connection_url(Connection(conn_id="a", conn_type="http", host=value)) == value
    assert (
        connection_url(Connection.from_uri("https://hooks.example/services/T/B/X", conn_id="b"))
        == "https://hooks.example/services/T/B/X"
    )


def test_threshold_checks_alert_once_each_and_stay_quiet_within_bounds(settings, webhook, mongo_db) -> None:
    from ragdag.observability.monitoring import check_drift, check_retrieval, check_validation

    context = {"run_id": "embed-run-1"}
    low = {"retrieval_hit_rate": 0.25, "retrieval_sample_size": 20}
    assert check_retrieval(settings, context, {"retrieval_hit_rate": 0.9}) is None
    assert check_retrieval(settings, context, low) is not None
    assert check_retrieval(settings, context, low) is None  # the retry of the same run
    failed_gate = {
        "gate_passed": False,
        "failed_share": 0.4,
        "threshold": 0.2,
        "quarantined": 4,
        "worst_expectations": ["articles.language_allowed"],
    }
    assert check_validation(settings, {"run_id": "validate-run-1"}, failed_gate) is not None
    assert check_validation(settings, {"run_id": "validate-run-2"}, {**failed_gate, "gate_passed": True}) is None
    assert check_drift(settings, context, None) is None

    kinds = [(b["kind"], b["run_id"]) for b in webhook.bodies]
    assert kinds == [("retrieval_hit_rate", "embed-run-1"), ("validation_pass_rate", "validate-run-1")]
    assert webhook.bodies[0]["value"] == 0.25 and webhook.bodies[0]["threshold"] == settings.retrieval_min_hit_rate
    assert "60.0% below 80.0%" in webhook.bodies[1]["what"] and "language_allowed" in webhook.bodies[1]["what"]


def test_mail_goes_through_the_smtp_providers_notifier(settings, monkeypatch) -> None:
    import asyncore
    import smtpd
    import threading
    from email import message_from_bytes

    from ragdag.settings import get_settings

    received: list = []

    class Server(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((mailfrom, rcpttos, message_from_bytes(data)))

    server = Server(("127.0.0.1", 0), None, decode_data=False)
    port = server.socket.getsockname()[1]
    loop = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1}, daemon=True)
    loop.start()
    extra = {"disable_tls": True, "disable_ssl": True, "from_email": "ragdag@example.org"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra}),
    )
    monkeypatch.setenv("RAGDAG_ALERT_EMAIL_TO", '["ops@example.org"]')
    get_settings.cache_clear()
    try:
        notice = alert_breach(get_settings(), NoticeKind.DRIFT, what="feature drift: p 0.001", run_id="run-mail")
    finally:
        server.close()

    assert notice is not None
    ((sender, recipients, message),) = received
    assert sender == "ragdag@example.org" and recipients == ["ops@example.org"]
    assert message["Subject"] == "[ragdag] drift: ragdag (run-mail)"
    body = next(part for part in message.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    assert b"feature drift: p 0.001" in body


def test_a_run_started_with_a_conf_is_in_the_audit_trail_once(tiny_dags, settings, mongo_db) -> None:
    from ragdag.observability.audit import AuditAction
    from ragdag.stores.mongo import AUDIT_TRAIL

    dag_run = tiny_dags["alerts_passing"].test(run_conf={"force": True})
    plain_run = tiny_dags["alerts_passing"].test()

    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    events = list(mongo_db[AUDIT_TRAIL].find({"action": AuditAction.RUN_OVERRIDE.value}))
    # Two tasks ran with the conf: one event for the run; the run without a conf has none.
    assert [e["subject"] for e in events] == [f"alerts_passing/{dag_run.run_id}"]
    assert events[0]["details"]["conf"] == {"force": True}
    assert plain_run.run_id not in events[0]["subject"]
