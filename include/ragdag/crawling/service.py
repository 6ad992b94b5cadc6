"""The crawl stage's entry points, called by the ``crawl_sources`` DAG's tasks."""

from __future__ import annotations

from ragdag.crawling.crawl_plan import CrawlTarget
from ragdag.crawling.crawl_report import CrawlReport, check_failed_share
from ragdag.crawling.dispatcher import crawl_target
from ragdag.crawling.document_store import record_crawl_error
from ragdag.crawling.fetching import Fetcher, TransientFetchError
from ragdag.settings import Settings
from ragdag.stores.mongo import RUNS, mongo_database


def crawl_one(settings: Settings, target: dict, run_id: str, *, last_attempt: bool = True) -> dict:
    """Crawl one link; on the last attempt a transient failure is recorded before it is raised."""
    parsed = CrawlTarget.model_validate(target)
    with mongo_database(settings) as db:
        try:
            return crawl_target(db, Fetcher(settings), parsed, run_id).model_dump()
        except TransientFetchError as error:
            if last_attempt:
                record_crawl_error(
                    db, url=parsed.url, author_full_name=parsed.author_full_name,
                    reason=f"gave up after retries: {error.reason}", run_id=run_id,
                )
            raise


def summarize_crawl(settings: Settings, targets: list[dict], reports: list[dict]) -> dict:
    """Sum the mapped tasks' reports; a link whose task failed outright counts as failed."""
    total = CrawlReport.total(r for r in reports if r)
    missing = len(targets) - total.sources
    total.sources += missing
    total.failed_sources += missing
    total.failed += missing
    summary = total.model_dump()
    with mongo_database(settings) as db:
        db[RUNS].insert_one({"stage": "crawl", **summary})
    check_failed_share(total, settings.max_failed_source_share)
    return summary
