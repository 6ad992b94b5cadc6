"""What every crawler gets for one configured link: the database, the fetcher, who and which run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragdag.crawling.document_store import WriteOutcome, record_crawl_error
from ragdag.crawling.fetching.fetcher import PermanentFetchError

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.crawling.fetching.fetcher import Fetcher
    from ragdag.settings import Settings


@dataclass(frozen=True)
class CrawlContext:
    db: Database
    fetcher: Fetcher
    author_full_name: str
    run_id: str | None

    @property
    def settings(self) -> Settings:
        return self.fetcher.settings

    def record_error(self, url: str, reason: str) -> None:
        record_crawl_error(self.db, url=url, author_full_name=self.author_full_name, reason=reason, run_id=self.run_id)


# A crawler stores what one link yields and returns one outcome per document it wrote or skipped.
# It raises PermanentFetchError when the link itself is unusable, TransientFetchError to retry.
Crawler = Callable[[CrawlContext, str], list[WriteOutcome]]


def crawl_recording_failure(ctx: CrawlContext, url: str, crawler: Crawler) -> list[WriteOutcome]:
    """Crawl a link found inside a source (a feed's article): a permanent failure is recorded and
    counted, so that one dead link does not fail the whole source."""
    try:
        return crawler(ctx, url)
    except PermanentFetchError as error:
        ctx.record_error(url, error.reason)
        return [WriteOutcome.FAILED]
