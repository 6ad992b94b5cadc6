"""Choose the crawler for a link, as the LLM Twin's crawler dispatcher does, and run it safely."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ragdag.crawling.article_crawler import crawl_article
from ragdag.crawling.crawl_report import CrawlReport
from ragdag.crawling.document_store import WriteOutcome, record_crawl_error
from ragdag.crawling.fetching import PermanentFetchError

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.crawling.crawl_plan import CrawlTarget
    from ragdag.crawling.fetching import Fetcher

# A crawler stores what one link yields and returns one outcome per document it wrote or skipped.
Crawler = Callable[["Database", "Fetcher", str, str], list[WriteOutcome]]


def _single(crawl: Callable[..., WriteOutcome]) -> Crawler:
    return lambda db, fetcher, url, author: [crawl(db, fetcher, url, author)]


# First match wins; the last entry catches every other page as an article.
CRAWLERS: list[tuple[str, re.Pattern[str], Crawler]] = [
    ("article", re.compile(r"^https?://"), _single(crawl_article)),
]


def crawler_for(url: str) -> tuple[str, Crawler]:
    for name, pattern, crawler in CRAWLERS:
        if pattern.search(url):
            return name, crawler
    raise ValueError(f"no crawler handles {url!r}")


def crawl_target(db: Database, fetcher: Fetcher, target: CrawlTarget, run_id: str | None) -> CrawlReport:
    """Crawl one configured link. Permanent failures are recorded and counted, not raised;
    transient ones propagate so that the Airflow task retries with backoff."""
    report = CrawlReport(sources=1)
    _, crawler = crawler_for(target.url)
    try:
        for outcome in crawler(db, fetcher, target.url, target.author_full_name):
            report.count(outcome)
    except PermanentFetchError as error:
        record_crawl_error(
            db, url=target.url, author_full_name=target.author_full_name,
            reason=error.reason, run_id=run_id,
        )
        report.failed += 1
        report.failed_sources = 1
    return report
