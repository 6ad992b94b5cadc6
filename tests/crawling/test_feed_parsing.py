"""Feed and sitemap parsing: the links found, and hostile XML refused (pure, no network)."""

from __future__ import annotations

import pytest

from ragdag.crawling.fetching.fetcher import PermanentFetchError
from ragdag.crawling.sources.feed_crawler import parse_feed

FEED_URL = "https://blog.example.com/feed/"

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Blog</title><link>https://blog.example.com/</link>
<item><title>One</title><link>https://blog.example.com/posts/one?utm_source=rss</link></item>
<item><title>Two</title><link>/posts/two</link></item>
<item><title>One again</title><link>https://blog.example.com/posts/one</link></item>
<item><title>Mail</title><link>mailto:jane@example.com</link></item>
<item><title>No link</title></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
<entry><title>A</title><link rel="alternate" href="https://blog.example.com/a"/><id>a</id></entry>
<entry><title>B</title><link rel="enclosure" href="https://cdn.example.com/b.mp3"/>
  <link rel="alternate" type="text/html" href="https://blog.example.com/b"/><id>b</id></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="https://blog.example.com/"><title>Blog</title></channel>
<item rdf:about="https://blog.example.com/r1"><title>R1</title><link>https://blog.example.com/r1</link></item>
</rdf:RDF>"""

SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://blog.example.com/s1</loc><lastmod>2025-01-01</lastmod></url>
<url><loc> https://blog.example.com/s2 </loc></url>
</urlset>"""

SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://blog.example.com/post-sitemap.xml</loc></sitemap>
<sitemap><loc>https://blog.example.com/page-sitemap.xml</loc></sitemap>
</sitemapindex>"""


def test_rss_links_are_absolute_http_and_unique() -> None:
    links = parse_feed(RSS, FEED_URL)
    assert links.articles == [
        "https://blog.example.com/posts/one?utm_source=rss",
        "https://blog.example.com/posts/two",
    ]
    assert links.sitemaps == []


def test_atom_takes_the_alternate_link() -> None:
    assert parse_feed(ATOM, FEED_URL).articles == ["https://blog.example.com/a", "https://blog.example.com/b"]


def test_rss_1_0() -> None:
    assert parse_feed(RDF, FEED_URL).articles == ["https://blog.example.com/r1"]


def test_sitemap_and_sitemap_index() -> None:
    assert parse_feed(SITEMAP, FEED_URL).articles == ["https://blog.example.com/s1", "https://blog.example.com/s2"]
    index = parse_feed(SITEMAP_INDEX, FEED_URL)
    assert index.articles == []
    assert index.sitemaps == ["https://blog.example.com/post-sitemap.xml", "https://blog.example.com/page-sitemap.xml"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<rss><channel><item><link>&x;</link></item></channel></rss>",
            "declares XML entities",
            id="xxe",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b"<urlset><url><loc>&b;</loc></url></urlset>",
            "declares XML entities",
            id="entity-expansion",
        ),
        pytest.param(b"<html><body>not a feed</body></html>", "root element is <html>", id="html"),
        pytest.param(b"<rss><channel>", "not a well-formed XML", id="truncated"),
        pytest.param(b"/etc/passwd", "not a well-formed XML", id="a-path"),
    ],
)
def test_unusable_documents_are_permanent_errors(body: bytes, message: str) -> None:
    with pytest.raises(PermanentFetchError, match=message):
        parse_feed(body, FEED_URL)
