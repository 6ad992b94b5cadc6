"""Crawl an RSS/Atom feed or a sitemap: discover its article links and crawl the new or changed ones.

Incremental by construction: every link goes through the article crawler, which sends the stored
copy's ETag / Last-Modified, so a known unchanged article costs one 304 and no write.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree

from ragdag.crawling.crawl_context import crawl_recording_failure
from ragdag.crawling.fetching.fetcher import PermanentFetchError
from ragdag.crawling.fetching.url_safety import normalize_url
from ragdag.crawling.sources.article_crawler import crawl_article

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext
    from ragdag.crawling.document_store import WriteOutcome
    from ragdag.crawling.fetching.fetcher import FetchResult

FEED_MEDIA_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml"}
)
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9"


@dataclass(frozen=True)
class FeedLinks:
    articles: list[str]
    sitemaps: list[str] = field(default_factory=list)  # the children of a sitemap index


def _safe_xml_root(body: bytes, url: str) -> etree._Element:
    # No DTD loading, no network, no entity expansion, libxml2's size limits on: a hostile feed can
    # neither read local files (XXE) nor blow up memory (billion laughs).
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise PermanentFetchError(url, f"not a well-formed XML feed or sitemap: {exc}") from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # feedparser parses the bytes again with expat, which would expand them.
        raise PermanentFetchError(url, "the feed declares XML entities, which are refused (entity expansion)")
    return root


def _feed_entries(root: etree._Element, body: bytes) -> FeedLinks:
    # An in-memory stream: given bytes or a str, feedparser may treat them as a file name or URL.
    parsed = feedparser.parse(io.BytesIO(body))
    return FeedLinks(articles=[entry.get("link", "") for entry in parsed.entries])


def _sitemap_urls(root: etree._Element, body: bytes) -> FeedLinks:
    return FeedLinks(articles=[loc.text or "" for loc in root.iterfind("{*}url/{*}loc")])


def _sitemap_index(root: etree._Element, body: bytes) -> FeedLinks:
    sitemaps = [loc.text or "" for loc in root.iterfind("{*}sitemap/{*}loc")]
    return FeedLinks(articles=[], sitemaps=sitemaps)


# The root element's local name says which kind of document this is.
_LINK_READERS: dict[str, Callable[[etree._Element, bytes], FeedLinks]] = {
    "rss": _feed_entries,
    "feed": _feed_entries,  # Atom
    "RDF": _feed_entries,  # RSS 1.0
    "urlset": _sitemap_urls,
    "sitemapindex": _sitemap_index,
}


def _absolute_http_links(links: list[str], base_url: str) -> list[str]:
    """Resolved against the feed's URL, http(s) only, first spelling of each page kept, in order."""
    seen: set[str] = set()
    kept = []
    for link in filter(None, (link.strip() for link in links)):  # "" would join to the feed itself
        absolute = urljoin(base_url, link)
        if urlsplit(absolute).scheme not in ("http", "https"):
            continue
        try:
            key = normalize_url(absolute)
        except ValueError:
            continue
        if key not in seen:
            seen.add(key)
            kept.append(absolute)
    return kept


def parse_feed(body: bytes, url: str) -> FeedLinks:
    """The article links (and nested sitemaps) of an RSS, Atom or sitemap.xml document."""
    root = _safe_xml_root(body, url)
    kind = etree.QName(root).localname
    reader = _LINK_READERS.get(kind)
    if reader is None:
        raise PermanentFetchError(
            url,
            f"not a feed or sitemap: the root element is <{kind}>; link an RSS, Atom or sitemap.xml document",
        )
    links = reader(root, body)
    return FeedLinks(
        articles=_absolute_http_links(links.articles, url),
        sitemaps=_absolute_http_links(links.sitemaps, url),
    )


def crawl_feed_page(ctx: CrawlContext, page: FetchResult, *, follow_sitemaps: bool = True) -> list[WriteOutcome]:
    """Crawl the links of a fetched feed: at most ``feed_max_links`` of them, in listed order.

    A link that fails for good is recorded in ``crawl_errors`` and the others go on; a transient
    failure stops the feed so that the task retries later (already stored links then cost a 304).
    """
    links = parse_feed(page.content, page.final_url)
    cap = ctx.settings.feed_max_links
    outcomes: list[WriteOutcome] = []
    for link in links.articles[:cap]:
        outcomes += crawl_recording_failure(ctx, link, crawl_article)
    if follow_sitemaps:
        # One level only: an index of indexes is rare, and a loop of indexes must not recurse.
        for sitemap in links.sitemaps[:cap]:
            outcomes += crawl_recording_failure(ctx, sitemap, _crawl_nested_sitemap)
    return outcomes


def _crawl_nested_sitemap(ctx: CrawlContext, url: str) -> list[WriteOutcome]:
    page = ctx.fetcher.fetch(url, accept=FEED_ACCEPT, require_html=False)
    return crawl_feed_page(ctx, page, follow_sitemaps=False)
