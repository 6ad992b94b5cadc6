"""The crawl stage's entry points: one link per ``crawl_sources`` mapped task, or a whole list in a
thread pool (benchmarks, runs outside Airflow)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ragdag.crawling.crawl_plan import CrawlTarget
from ragdag.crawling.crawl_report import CrawlReport, check_failed_share
from ragdag.crawling.dispatcher import crawl_target
from ragdag.crawling.fetching import Fetcher, TransientFetchError
from ragdag.crawling.rate_limit import HostRateLimiter
from ragdag.crawling.robots import RobotsCache
from ragdag.settings import Settings
from ragdag.stores.mongo import RUNS, mongo_database


def crawl_one(settings: Settings, target: dict, run_id: str, *, last_attempt: bool = True) -> dict:
    """Crawl one link; a transient failure raises (Airflow retries), recorded on the last attempt."""
    parsed = CrawlTarget.model_validate(target)
    with mongo_database(settings) as db, Fetcher(settings) as fetcher:
        return crawl_target(db, fetcher, parsed, run_id, last_attempt=last_attempt).model_dump()


def crawl_targets(
    settings: Settings, targets: Sequence[CrawlTarget], run_id: str | None, *, concurrency: int = 1
) -> list[CrawlReport]:
    """Crawl many links at once, one report per link in order; there is no later retry here, so a
    transient failure is recorded and counted as a failed source.

    The threads share one rate limiter and robots.txt cache: politeness holds per host across
    them, and a pool over several hosts is as fast as the slowest host's delay allows.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    limiter = HostRateLimiter(settings.per_host_delay_s)
    robots = RobotsCache()
    local = threading.local()
    fetchers: list[Fetcher] = []

    def fetcher() -> Fetcher:
        # requests.Session is not thread-safe: one Fetcher per thread, which keeps its connections.
        if not hasattr(local, "fetcher"):
            local.fetcher = Fetcher(settings, rate_limiter=limiter, robots=robots)
            fetchers.append(local.fetcher)
        return local.fetcher

    with mongo_database(settings) as db:

        def crawl(target: CrawlTarget) -> CrawlReport:
            try:
                return crawl_target(db, fetcher(), target, run_id)
            except TransientFetchError:
                return CrawlReport(sources=1, failed=1, failed_sources=1)

        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="crawl") as pool:
                return list(pool.map(crawl, targets))
        finally:
            for each in fetchers:
                each.close()


def summarize_crawl(
    settings: Settings, targets: list[dict], reports: list[dict], run_id: str | None = None
) -> dict:
    """Sum the mapped tasks' reports; a link whose task failed outright counts as failed."""
    total = CrawlReport.total(r for r in reports if r)
    missing = len(targets) - total.sources
    total.sources += missing
    total.failed_sources += missing
    total.failed += missing
    summary = total.model_dump()
    with mongo_database(settings) as db:
        db[RUNS].insert_one({"stage": "crawl", "run_id": run_id, **summary})
    check_failed_share(total, settings.max_failed_source_share)
    return summary
