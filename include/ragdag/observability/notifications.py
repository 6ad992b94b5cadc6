"""Alerts: Airflow notifiers for failed runs, and one notice per threshold breach.

Every DAG gets :func:`failure_notifiers` as its ``on_failure_callback`` (through
``dag_wiring.DAG_KWARGS``): Airflow calls each notifier once per failed DAG run, with the failed
task's context. Each channel is configured by an Airflow connection or a setting and stays quiet
when it is not configured, except the local one, which always logs the notice and appends it as
a JSON line to ``<data_dir>/alerts/alerts.jsonl``:

- generic webhook: connection ``RAGDAG_ALERT_WEBHOOK_CONN_ID`` (the URL as host), JSON POST of the
  :class:`Notice`;
- Slack: connection ``RAGDAG_ALERT_SLACK_CONN_ID`` (the incoming-webhook URL as host), POST of
  Slack's documented ``{"text": ...}`` payload;
- mail: ``RAGDAG_ALERT_EMAIL_TO`` through the SMTP provider's ``SmtpNotifier`` and the connection
  ``RAGDAG_ALERT_SMTP_CONN_ID``.

A task that computes a monitored value calls :func:`alert_breach`: the first call for a (run,
breach kind) sends the notice through the same channels, later ones (a retry, a second document)
send nothing. Light at import time: DAG files import this through ``dag_wiring``.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk.bases.notifier import BaseNotifier
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ragdag.settings import Settings

log = logging.getLogger(__name__)

ALERTS = "alerts"  # MongoDB collection: one document per (run, breach kind) already sent
HTTP_TIMEOUT_S = 10.0


class NoticeKind(StrEnum):
    TASK_FAILED = "task_failed"
    CRAWL_FAILED_SHARE = "crawl_failed_share"
    VALIDATION_PASS_RATE = "validation_pass_rate"
    RETRIEVAL_HIT_RATE = "retrieval_hit_rate"
    DRIFT = "drift"


class Notice(BaseModel):
    kind: NoticeKind
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    what: str  # what failed or crossed its threshold, in words a person can act on
    log_url: str | None = None
    value: float | None = None
    threshold: float | None = None
    try_number: int | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def title(self) -> str:
        where = ".".join(p for p in (self.dag_id, self.task_id) if p) or "ragdag"
        return f"[ragdag] {self.kind.value}: {where} ({self.run_id})"

    def text(self) -> str:
        lines = [self.title, self.what]
        if self.value is not None:
            lines.append(
                f"value {self.value:.4g}, threshold {self.threshold:.4g}"
                if self.threshold is not None
                else f"value {self.value:.4g}"
            )
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)


def notice_from_context(context: Mapping[str, Any], kind: NoticeKind = NoticeKind.TASK_FAILED, **fields: Any) -> Notice:
    """The notice of a failure callback (or a task's breach): DAG, task, run and log URL from Airflow."""
    ti = context.get("ti")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    try:
        log_url = ti.log_url if ti is not None else None
    except Exception:  # noqa: BLE001 - needs [api] base_url; the notice matters more
        log_url = None
    if "what" not in fields:
        error = context.get("exception")
        task_id = getattr(ti, "task_id", None)
        reason = context.get("reason") or "failed"
        if error is not None:
            fields["what"] = f"task {task_id} failed: {type(error).__name__}: {error}"
        elif task_id:
            recorded = _recorded_error(context)
            fields["what"] = f"task {task_id} failed: {recorded}" if recorded else f"task {task_id} failed ({reason})"
        else:
            fields["what"] = f"run failed ({reason})"
    return Notice(
        kind=kind,
        dag_id=getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None),
        task_id=getattr(ti, "task_id", None),
        run_id=str(context.get("run_id") or getattr(dag_run, "run_id", "") or "") or None,
        log_url=log_url,
        try_number=getattr(ti, "try_number", None),
        **fields,
    )


def _recorded_error(context: Mapping[str, Any]) -> str | None:
    """A DAG's failure callback gets no exception: the failed attempt's run record has it."""
    ti = context.get("ti")
    try:
        from ragdag.observability.run_records import failed_attempt
        from ragdag.stores.mongo import mongo_database

        with mongo_database(_settings()) as db:
            record = failed_attempt(db, ti.dag_id, str(ti.run_id), ti.task_id)
    except Exception:  # noqa: BLE001 - the notice goes out without the detail
        log.exception("could not read the failed attempt's run record")
        return None
    return record.error if record else None


def _settings() -> Settings:
    from ragdag.settings import get_settings

    return get_settings()


def connection_url(conn: Connection) -> str:
    """A webhook URL kept in a connection: the host as a full URL, or scheme/host/port/path parts."""
    host = conn.host or ""
    if "://" in host:
        return host
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema.lstrip('/')}" if conn.schema else ""
    return f"{scheme}://{host}{port}{path}"


class AlertDeliveryError(RuntimeError):
    """An alert channel could not deliver. The message names the endpoint by scheme and host and
    says what went wrong (the HTTP status, or the kind of network error), never the URL's path or
    query: a webhook URL's path is its secret (Slack's ``/services/T…/B…/…``), and requests' own
    errors repeat the whole URL."""


def endpoint_of(url: str) -> str:
    """Scheme, host and port of a URL: what an error or a log line may show of it."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def _post_json(url: str, payload: dict[str, Any]) -> None:
    import requests

    try:
        response = requests.post(url, json=payload, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as error:
        # `from None`: the chained error's text carries the full URL into every traceback.
        raise AlertDeliveryError(f"POST to {endpoint_of(url)} failed: {type(error).__name__}") from None
    if response.status_code >= 400:
        raise AlertDeliveryError(f"POST to {endpoint_of(url)} answered HTTP {response.status_code}")


class ChannelNotifier(BaseNotifier):
    """One alert channel: a failure callback (``notify``) and a breach sender (``send``)."""

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing to template; and dag.test() hands callbacks a serialized DAG without a Jinja env.
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def notify(self, context: Any) -> None:
        self.send(notice_from_context(context), context)

    def send(self, notice: Notice, context: Mapping[str, Any] | None = None) -> bool:
        """Send ``notice``; False when this channel is not configured."""
        raise NotImplementedError


class LocalNotifier(ChannelNotifier):
    """Always on: the notice in the log and as a JSON line in the data dir."""

    def send(self, notice: Notice, context: Mapping[str, Any] | None = None) -> bool:
        path = _settings().alerts_file
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(notice.model_dump_json() + "\n")
        log.warning("ALERT %s", notice.text())
        return True


class _ConnectionNotifier(ChannelNotifier):
    def _url(self, conn_id: str) -> str | None:
        from ragdag.stores.connections import find_connection

        conn = find_connection(conn_id)
        return connection_url(conn) if conn is not None else None


class WebhookNotifier(_ConnectionNotifier):
    """JSON POST of the whole notice to the URL of ``RAGDAG_ALERT_WEBHOOK_CONN_ID``."""

    def send(self, notice: Notice, context: Mapping[str, Any] | None = None) -> bool:
        url = self._url(_settings().alert_webhook_conn_id)
        if url is None:
            return False
        _post_json(url, json.loads(notice.model_dump_json()))
        return True


class SlackWebhookNotifier(_ConnectionNotifier):
    """Slack incoming webhook: POST ``{"text": ...}`` to the URL of ``RAGDAG_ALERT_SLACK_CONN_ID``."""

    def send(self, notice: Notice, context: Mapping[str, Any] | None = None) -> bool:
        url = self._url(_settings().alert_slack_conn_id)
        if url is None:
            return False
        _post_json(url, {"text": notice.text()})
        return True


class EmailNotifier(ChannelNotifier):
    """Mail to ``RAGDAG_ALERT_EMAIL_TO`` through the SMTP provider's notifier."""

    def send(self, notice: Notice, context: Mapping[str, Any] | None = None) -> bool:
        settings = _settings()
        if not settings.alert_email_to:
            return False
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        body = "<br>".join(html.escape(line) for line in notice.text().splitlines())
        SmtpNotifier(
            to=settings.alert_email_to,
            subject=notice.title,
            html_content=f"<p>{body}</p>",
            smtp_conn_id=settings.alert_smtp_conn_id,
        ).notify(dict(context or {}))
        return True


def failure_notifiers() -> list[ChannelNotifier]:
    """The channels, in order; attached once to every DAG as ``on_failure_callback``."""
    return [LocalNotifier(), WebhookNotifier(), SlackWebhookNotifier(), EmailNotifier()]


def send_notice(notice: Notice, context: Mapping[str, Any] | None = None) -> list[str]:
    """Send through every configured channel; one failing channel does not stop the others."""
    sent = []
    for channel in failure_notifiers():
        try:
            if channel.send(notice, context):
                sent.append(type(channel).__name__)
        except Exception:  # noqa: BLE001 - an alert channel down must not hide the alert elsewhere
            log.exception("alert channel %s failed for %s", type(channel).__name__, notice.title)
    return sent


def alert_breach(
    settings: Settings,
    kind: NoticeKind,
    *,
    what: str,
    value: float | None = None,
    threshold: float | None = None,
    context: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> Notice | None:
    """Alert a threshold breach once per (run, kind): the notice sent, or None when already sent."""
    from pymongo.errors import DuplicateKeyError

    from ragdag.stores.mongo import mongo_database

    if context:
        notice = notice_from_context(context, kind, what=what, value=value, threshold=threshold)
    else:
        notice = Notice(
            kind=kind, dag_id=None, task_id=None, run_id=run_id, what=what, value=value, threshold=threshold
        )
    key = f"{notice.run_id}/{kind.value}"
    try:
        with mongo_database(settings) as db:
            db[ALERTS].insert_one({"_id": key, **json.loads(notice.model_dump_json()), "at": notice.at})
    except DuplicateKeyError:
        log.info("breach %s already alerted", key)
        return None
    except Exception:  # noqa: BLE001 - MongoDB down: a second notice beats a lost one, and the task goes on
        log.exception("could not record breach %s; sending it anyway", key)
    send_notice(notice, context)
    return notice
