"""The crawl stage's entry points: one host's links per ``crawl_sources`` mapped task, or a whole
list of links in a thread pool (benchmarks, runs outside Airflow).

Politeness is per host, so the unit of work is a host (``crawl_plan.HostGroup``): its links are
fetched one after the other by one fetcher, with one rate limiter and one robots.txt cache, and
only one task (or thread) ever holds a host. The tasks' limiters also share each host's next free
slot through MongoDB (``host_slots``), for the requests a task makes to other hosts.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ragdag.crawling.crawl_context import CrawlContext
from ragdag.crawling.crawl_report import CrawlReport, check_failed_share
from ragdag.crawling.fetching.fetcher import Fetcher, TransientFetchError
from ragdag.crawling.fetching.host_slots import SharedHostSlots
from ragdag.crawling.fetching.rate_limit import HostRateLimiter
from ragdag.crawling.fetching.robots import RobotsCache
from ragdag.crawling.sources.crawl_plan import CrawlTarget, HostGroup, target_host
from ragdag.crawling.sources.dispatcher import crawl_target
from ragdag.observability.run_records import record_stage_report
from ragdag.settings import Settings
from ragdag.stages import Stage
from ragdag.stores.mongo import mongo_database

if TYPE_CHECKING:
    from pymongo.database import Database


def _failed_source() -> CrawlReport:
    return CrawlReport(sources=1, failed=1, failed_sources=1)


def crawl_group(
    db: Database, fetcher: Fetcher, group: HostGroup, run_id: str | None, *, last_attempt: bool
) -> tuple[list[CrawlReport], TransientFetchError | None]:
    """Crawl a host's links in order: one report per link, and the transient failure, if any,
    that stopped the host.

    A host that fails transiently (timeout, 429, 5xx) is not asked for its other links in this
    attempt: it is struggling, and the retry starts over (pages stored meanwhile cost a 304). On
    the last attempt that link and the ones not reached are recorded in ``crawl_errors``.
    """
    reports: list[CrawlReport] = []
    for position, target in enumerate(group.targets):
        try:
            reports.append(crawl_target(db, fetcher, target, run_id, last_attempt=last_attempt))
        except TransientFetchError as error:
            if last_attempt:
                reports.append(_failed_source())
                for skipped in group.targets[position + 1 :]:
                    CrawlContext(db, fetcher, skipped.author_full_name, run_id).record_error(
                        skipped.url,
                        f"not crawled: {group.host} failed just before on {error.url} ({error.reason})",
                    )
                    reports.append(_failed_source())
            return reports, error
    return reports, None


def crawl_host(settings: Settings, group: dict, run_id: str, *, last_attempt: bool = True) -> dict:
    """Crawl one host's links (one mapped task): a transient failure raises for Airflow to retry
    the host later, except on the last attempt, where it is recorded and counted as failed."""
    parsed = HostGroup.model_validate(group)
    with mongo_database(settings) as db:
        # Slots shared with the other tasks: a feed here may list pages on a host another task has.
        # A request holds its host's turn until the answer: at most connect + first read.
        turns = SharedHostSlots(db, lease_s=2 * settings.http_timeout_s + settings.per_host_delay_s)
        limiter = HostRateLimiter(settings.per_host_delay_s, shared=turns)
        with Fetcher(settings, rate_limiter=limiter) as fetcher:
            reports, error = crawl_group(db, fetcher, parsed, run_id, last_attempt=last_attempt)
    if error is not None and not last_attempt:
        raise error
    return CrawlReport.total(reports).model_dump()


def crawl_targets(
    settings: Settings, targets: Sequence[CrawlTarget], run_id: str | None, *, concurrency: int = 1
) -> list[CrawlReport]:
    """Crawl many links at once, one report per link in order: ``concurrency`` hosts at a time,
    each host's links in order. There is no later retry here, so a transient failure is recorded
    and counted as a failed source.

    The threads share one rate limiter and robots.txt cache, so a feed's link to a host that
    another thread crawls is spaced as well.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    limiter = HostRateLimiter(settings.per_host_delay_s)
    robots = RobotsCache()
    local = threading.local()
    fetchers: list[Fetcher] = []
    # The positions of each host's links, so the reports come back in the order of ``targets``.
    positions: dict[str, list[int]] = {}
    for position, target in enumerate(targets):
        positions.setdefault(target_host(target), []).append(position)
    groups = [HostGroup(host=host, targets=[targets[p] for p in ps]) for host, ps in positions.items()]

    def fetcher() -> Fetcher:
        # requests.Session is not thread-safe: one Fetcher per thread, which keeps its connections.
        if not hasattr(local, "fetcher"):
            local.fetcher = Fetcher(settings, rate_limiter=limiter, robots=robots)
            fetchers.append(local.fetcher)
        return local.fetcher

    with mongo_database(settings) as db:

        def crawl(group: HostGroup) -> list[CrawlReport]:
            return crawl_group(db, fetcher(), group, run_id, last_attempt=True)[0]

        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="crawl") as pool:
                per_group = list(pool.map(crawl, groups))
        finally:
            for each in fetchers:
                each.close()
    reports: list[CrawlReport] = [CrawlReport()] * len(targets)
    for group_positions, group_reports in zip(positions.values(), per_group, strict=True):
        for position, report in zip(group_positions, group_reports, strict=True):
            reports[position] = report
    return reports


def link_count(groups: list[dict]) -> int:
    """How many links the planned host groups hold."""
    return sum(len(HostGroup.model_validate(group).targets) for group in groups)


def summarize_crawl(settings: Settings, groups: list[dict], reports: list[dict], run_id: str | None = None) -> dict:
    """Sum the mapped tasks' reports; the links of a host whose task failed outright count as
    failed."""
    total = CrawlReport.total(r for r in reports if r)
    missing = link_count(groups) - total.sources
    total.sources += missing
    total.failed_sources += missing
    total.failed += missing
    summary = total.model_dump()
    with mongo_database(settings) as db:
        record_stage_report(db, Stage.CRAWL, run_id, summary, settings=settings)
    check_failed_share(total, settings.max_failed_source_share)
    return summary
