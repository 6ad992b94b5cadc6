"""Which crawler a link goes to: first match of the URL table wins."""

from __future__ import annotations

import pytest

from ragdag.crawling.fetching.fetcher import PermanentFetchError
from ragdag.crawling.sources.dispatcher import crawler_for


@pytest.mark.parametrize(
    ("url", "crawler"),
    [
        ("https://github.com/decodingml/llm-twin-course", "repository"),
        ("https://github.com/decodingml/llm-twin-course/", "repository"),
        ("https://github.com/owner/repo.git", "repository"),
        ("https://gitlab.com/group/subgroup/project", "repository"),
        ("https://git.example.org/tools/thing.git", "repository"),
        ("file:///tmp/repos/engine", "repository"),
        ("https://github.com/owner/repo/blob/main/README.md", "article"),
        ("https://gitlab.com/group/project/-/issues/3", "article"),
        ("https://github.com/owner", "article"),
        ("https://www.linkedin.com/posts/jane-doe_mlops-activity-7123", "post"),
        ("https://x.com/jane/status/1790000000000000000", "post"),
        ("https://twitter.com/jane/status/1790000000000000000", "post"),
        ("https://mastodon.social/@jane/112233445566778899", "post"),
        ("https://decodingml.substack.com/feed", "feed"),
        ("https://blog.example.com/feed/", "feed"),
        ("https://blog.example.com/rss", "feed"),
        ("https://blog.example.com/atom.xml", "feed"),
        ("https://blog.example.com/sitemap.xml", "feed"),
        ("https://blog.example.com/index.xml?page=2", "feed"),
        ("https://blog.example.com/feeding-the-model", "article"),
        ("https://medium.com/@jane/a-post-about-rag-1a2b3c", "article"),
        ("https://decodingml.substack.com/p/an-end-to-end-framework-for-production", "article"),
    ],
)
def test_crawler_for(url: str, crawler: str) -> None:
    assert crawler_for(url)[0] == crawler


def test_no_crawler_for_other_schemes() -> None:
    with pytest.raises(PermanentFetchError, match="no crawler handles"):
        crawler_for("ftp://files.example.com/paper.pdf")
