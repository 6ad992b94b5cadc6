"""The monitored values of the chain and their thresholds: each breach alerts once per run.

Called by the DAG tasks with the reports they already get back (no stage module knows about
alerts); :func:`ragdag.observability.notifications.alert_breach` deduplicates per (run, kind), so a retry or a
second document never sends a second notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ragdag.observability.notifications import Notice, NoticeKind, alert_breach
from ragdag.settings import Settings


def check_crawl(settings: Settings, context: Mapping[str, Any], *, error: str) -> Notice | None:
    """The crawl failed more sources than ``RAGDAG_MAX_FAILED_SOURCE_SHARE`` allows."""
    return alert_breach(
        settings,
        NoticeKind.CRAWL_FAILED_SHARE,
        what=error,
        threshold=settings.max_failed_source_share,
        context=context,
    )


def check_validation(settings: Settings, context: Mapping[str, Any], report: Any) -> Notice | None:
    """Validation pass rate below ``1 - RAGDAG_VALIDATION_MAX_FAILED_SHARE`` (the gate failed)."""
    if report is None:
        return None
    report = _as_dict(report)
    if report.get("gate_passed", True):
        return None
    worst = ", ".join(report.get("worst_expectations") or []) or "see the validation report"
    return alert_breach(
        settings,
        NoticeKind.VALIDATION_PASS_RATE,
        context=context,
        what=f"validation pass rate {1 - report['failed_share']:.1%} below {1 - report['threshold']:.1%} "
        f"({report.get('quarantined', 0)} quarantined; worst expectations: {worst})",
        value=1 - float(report["failed_share"]),
        threshold=1 - float(report["threshold"]),
    )


def check_retrieval(settings: Settings, context: Mapping[str, Any], report: Any) -> Notice | None:
    """Retrieval hit rate below ``RAGDAG_RETRIEVAL_MIN_HIT_RATE``."""
    report = _as_dict(report)
    rate = report.get("retrieval_hit_rate")
    if rate is None or rate >= settings.retrieval_min_hit_rate:
        return None
    return alert_breach(
        settings,
        NoticeKind.RETRIEVAL_HIT_RATE,
        context=context,
        value=float(rate),
        threshold=settings.retrieval_min_hit_rate,
        what=f"retrieval hit rate {rate:.1%} below {settings.retrieval_min_hit_rate:.1%} "
        f"(RAGDAG_RETRIEVAL_MIN_HIT_RATE) on {report.get('retrieval_sample_size', 0)} sampled documents",
    )


def check_drift(settings: Settings, context: Mapping[str, Any], drift: Mapping[str, Any] | None) -> Notice | None:
    """The embed run's chunks differ from the reference (MMD test p below ``RAGDAG_DRIFT_ALPHA``)."""
    if not drift or not drift.get("drifted"):
        return None
    test = drift["embeddings"]
    languages = drift.get("current_text", {}).get("languages", {})
    return alert_breach(
        settings,
        NoticeKind.DRIFT,
        context=context,
        value=float(test["p_value"]),
        threshold=float(drift["alpha"]),
        what=f"feature drift against {drift['reference_kind']} {drift['reference_run_id']}: MMD² "
        f"{test['statistic']:.4g}, p {test['p_value']:.3g} ({test['reference_size']} vs {test['current_size']} "
        f"chunks); vocabulary overlap {drift.get('vocabulary_overlap')}, languages now {languages}",
    )


def check_embed_run(
    settings: Settings, context: Mapping[str, Any], report: Any, drift: Mapping[str, Any] | None
) -> list[Notice]:
    """Both checks of an embed run: retrieval hit rate and drift."""
    notices = [check_retrieval(settings, context, report), check_drift(settings, context, drift)]
    return [n for n in notices if n is not None]


def _as_dict(report: Any) -> dict[str, Any]:
    return report.model_dump(mode="json") if hasattr(report, "model_dump") else dict(report)
