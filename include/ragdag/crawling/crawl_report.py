"""Counts of what a crawl wrote, summed across mapped tasks into the Asset event's extra."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from ragdag.crawling.document_store import WriteOutcome
from ragdag.errors import PermanentError


class CrawlReport(BaseModel):
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failed_sources: int = 0
    sources: int = 0

    def count(self, outcome: WriteOutcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    @classmethod
    def total(cls, reports: Iterable[CrawlReport | dict]) -> CrawlReport:
        summed = cls()
        for report in reports:
            data = report.model_dump() if isinstance(report, CrawlReport) else report
            for field in cls.model_fields:
                setattr(summed, field, getattr(summed, field) + int(data.get(field, 0)))
        return summed


class TooManyFailedSources(PermanentError, RuntimeError):
    pass


def check_failed_share(report: CrawlReport, max_failed_share: float) -> None:
    """Fail the run when more than the configured share of sources failed."""
    if report.sources and report.failed_sources / report.sources > max_failed_share:
        raise TooManyFailedSources(
            f"{report.failed_sources} of {report.sources} sources failed, more than the allowed "
            f"share {max_failed_share:.0%} (RAGDAG_MAX_FAILED_SOURCE_SHARE); see crawl_errors"
        )
