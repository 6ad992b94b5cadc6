"""Choose the crawler for a link, as the LLM Twin's crawler dispatcher does, and run it safely."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from ragdag.crawling.crawl_context import CrawlContext, Crawler
from ragdag.crawling.crawl_report import CrawlReport
from ragdag.crawling.document_store import WriteOutcome
from ragdag.crawling.fetching.fetcher import (
    HTML_MEDIA_TYPES,
    PermanentFetchError,
    TransientFetchError,
    parse_content_type,
)
from ragdag.crawling.fetching.url_safety import loggable_url
from ragdag.crawling.sources.article_crawler import fetch_known, store_page
from ragdag.crawling.sources.feed_crawler import FEED_ACCEPT, FEED_MEDIA_TYPES, crawl_feed_page
from ragdag.crawling.sources.posts_archives import crawl_archive
from ragdag.crawling.sources.posts_bluesky import crawl_bluesky
from ragdag.crawling.sources.posts_mastodon import crawl_mastodon
from ragdag.crawling.sources.repository_crawler import crawl_repository
from ragdag.models import Category

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.crawling.fetching.fetcher import Fetcher, FetchResult
    from ragdag.crawling.sources.crawl_plan import CrawlTarget

# Feeds last: a link given as a page may turn out to be one (see _PAGE_HANDLERS).
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, application/rss+xml;q=0.5, application/xml;q=0.4"

log = logging.getLogger(__name__)


def _store_article(ctx: CrawlContext, page: FetchResult) -> list[WriteOutcome]:
    return [store_page(ctx, Category.ARTICLES, page)]


# What a fetched web page turns out to be decides how it is stored: a link given as an article
# may well be a blog's feed. Links found in a feed are fetched as HTML only, so feeds never nest.
_PAGE_HANDLERS: dict[str, Callable[[CrawlContext, FetchResult], list[WriteOutcome]]] = {
    **dict.fromkeys(HTML_MEDIA_TYPES, _store_article),
    **dict.fromkeys(FEED_MEDIA_TYPES, crawl_feed_page),
}


def crawl_web_page(ctx: CrawlContext, url: str, *, accept: str = HTML_ACCEPT) -> list[WriteOutcome]:
    """Crawl a link as an article or, when it serves RSS/Atom/sitemap XML, as a feed."""
    page = fetch_known(ctx, Category.ARTICLES, url, accept=accept, require_html=False)
    if page.not_modified:
        return [WriteOutcome.UNCHANGED]
    media_type, _ = parse_content_type(page.content_type)
    handler = _PAGE_HANDLERS.get(media_type)
    if handler is None:
        raise PermanentFetchError(
            page.url,
            f"neither HTML nor a feed: content type is {media_type or 'missing'!r}; "
            "link an article page, an RSS/Atom feed or a sitemap.xml",
            status=page.status,
        )
    return handler(ctx, page)


def refuse_post_page(ctx: CrawlContext, url: str) -> list[WriteOutcome]:
    """A single post's page cannot be crawled: LinkedIn's need a login, X's are rendered by
    JavaScript (the HTML has no text), and one page is not "all my posts" anyway."""
    raise PermanentFetchError(
        url,
        "a single post's page is not crawled (LinkedIn's need a login, X's hold no text without "
        "JavaScript); name the account in posts: instead, e.g. posts: [{platform: mastodon, "
        "account: '@user@instance'}] or [{platform: linkedin, archive: <export.zip>}] (docs/sources.md)",
    )


# A posts source's crawler, by platform (see ragdag.crawling.sources.post_sources).
POST_CRAWLERS: dict[str, Callable[[CrawlContext, Any], list[WriteOutcome]]] = {
    "mastodon": crawl_mastodon,
    "bluesky": crawl_bluesky,
    "linkedin": crawl_archive,
    "x": crawl_archive,
}


_SEGMENT = r"[\w.-]+"
# First match wins; the last entry catches every other web page as an article.
_ROUTES: list[tuple[str, str, Crawler]] = [
    ("repository", rf"^https?://(www\.)?github\.com/{_SEGMENT}/{_SEGMENT}/?$", crawl_repository),
    # GitLab groups nest; "/-/" starts a page about the project (blob, issues), not the project.
    ("repository", r"^https?://(www\.)?gitlab\.com/(?!.*/-(/|$))[^?#]+/[^?#/]+/?$", crawl_repository),
    ("repository", r"^https?://[^?#]+\.git/?$", crawl_repository),
    # Only ever reached in tests and demos: the repository crawler refuses file:// otherwise.
    ("repository", r"^file://", crawl_repository),
    ("post", r"^https?://(www\.)?linkedin\.com/(posts|feed/update)/", refuse_post_page),
    ("post", r"^https?://(www\.|mobile\.)?(x|twitter)\.com/\w+/status/\d+", refuse_post_page),
    ("post", r"^https?://[^/?#]+/@\w+/\d+/?$", refuse_post_page),  # Mastodon-style
    (
        "feed",
        r"^https?://[^?#]*(/(feed|rss|atom)|\.(xml|rss|atom))/?([?#]|$)",
        partial(crawl_web_page, accept=FEED_ACCEPT),
    ),
    ("article", r"^https?://", crawl_web_page),
]
CRAWLERS: list[tuple[str, re.Pattern[str], Crawler]] = [
    (name, re.compile(pattern, re.IGNORECASE), crawler) for name, pattern, crawler in _ROUTES
]


def crawler_for(url: str) -> tuple[str, Crawler]:
    for name, pattern, crawler in CRAWLERS:
        if pattern.search(url.strip()):
            return name, crawler
    raise PermanentFetchError(url, "no crawler handles this URL; link an http(s) page, feed or repository")


def _shown(target: CrawlTarget) -> str:
    return loggable_url(target.url) if target.posts is None else target.url  # a posts source is an account name


def _status(error: PermanentFetchError | TransientFetchError) -> str:
    return f"HTTP {error.status}" if error.status is not None else type(error).__name__


def crawl_target(
    db: Database, fetcher: Fetcher, target: CrawlTarget, run_id: str | None, *, last_attempt: bool = True
) -> CrawlReport:
    """Crawl one configured link or posts source. Permanent failures are recorded and counted, not raised;
    transient ones propagate so that the Airflow task retries with backoff (and are recorded on
    the last attempt, so that a source that never answers still shows in ``crawl_errors``)."""
    ctx = CrawlContext(db, fetcher, target.author_full_name, run_id)
    report = CrawlReport(sources=1)
    try:
        if target.posts is not None:
            outcomes = POST_CRAWLERS[target.posts.platform](ctx, target.posts)
        else:
            _, crawler = crawler_for(target.url)
            outcomes = crawler(ctx, target.url)
        for outcome in outcomes:
            report.count(outcome)
    except PermanentFetchError as error:
        ctx.record_error(target.url, error.reason)
        log.warning(
            "%s failed for good (%s): not retried, the reason is in crawl_errors", _shown(target), _status(error)
        )
        report.failed += 1
        report.failed_sources = 1
    except TransientFetchError as error:
        if last_attempt:
            ctx.record_error(target.url, f"gave up after retries: {error.reason}")
            log.warning(
                "%s still failing on the last attempt (%s): recorded in crawl_errors", _shown(target), _status(error)
            )
        raise
    return report
