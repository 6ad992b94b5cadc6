"""Posts sources in a run's conf and in sources.yaml: validated, deduplicated, grouped by host."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdag.crawling.fetching.fetcher import Fetcher
from ragdag.crawling.sources.crawl_plan import InvalidCrawlConf, group_by_host, plan_targets
from ragdag.crawling.sources.dispatcher import crawl_target
from ragdag.crawling.sources.post_sources import ARCHIVES_HOST, BLUESKY_HOST
from ragdag.stores.mongo import CRAWL_ERRORS, mongo_database

POSTS = [
    {"platform": "mastodon", "account": "@Jane@Mastodon.Social"},
    {"platform": "mastodon", "account": "jane@mastodon.social"},  # the same account
    {"platform": "bluesky", "account": "@Jane.bsky.social"},
    {"platform": "bluesky", "account": "did:plc:abcdefghijklmnopqrstuvwx"},
    {"platform": "linkedin", "archive": "s3://exports/jane/linkedin.zip"},
    {"platform": "x", "archive": "/data/twitter-2025.zip"},
]


def test_conf_with_posts_only_plans_one_target_per_account(tmp_path: Path) -> None:
    targets = plan_targets({"author": "Jane Doe", "posts": POSTS}, tmp_path / "unused.yaml")
    labels = [t.url for t in targets]
    assert labels == [
        "mastodon:@Jane@mastodon.social",
        "bluesky:jane.bsky.social",
        "bluesky:did:plc:abcdefghijklmnopqrstuvwx",
        "linkedin:s3://exports/jane/linkedin.zip",
        "x:/data/twitter-2025.zip",
    ]
    groups = {g.host: len(g.targets) for g in group_by_host(targets)}
    assert groups == {"mastodon.social": 1, BLUESKY_HOST: 2, ARCHIVES_HOST: 2}


def test_sources_file_names_posts_beside_links(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "authors:\n"
        "  - full_name: Jane Doe\n"
        "    links: [https://jane.example/blog/feed.xml]\n"
        "    posts:\n"
        "      - {platform: mastodon, account: '@jane@hachyderm.io'}\n"
        "      - {platform: linkedin, archive: exports/linkedin.zip}\n",
        encoding="utf-8",
    )
    targets = plan_targets(None, sources)
    assert [t.url for t in targets] == [
        "https://jane.example/blog/feed.xml",
        "mastodon:@jane@hachyderm.io",
        "linkedin:exports/linkedin.zip",
    ]
    assert targets[1].posts.instance == "hachyderm.io"


@pytest.mark.parametrize(
    ("posts", "message"),
    [
        (
            [{"platform": "mastodon", "account": "jane"}],
            "posts.0.mastodon.account: Value error, 'jane' is not a Mastodon account",
        ),
        ([{"platform": "bluesky", "account": "not a handle"}], "is not a Bluesky handle or DID"),
        (
            [{"platform": "linkedin", "archive": "https://example.com/export.zip"}],
            "a local path, a file:// or an s3:// URI",
        ),
        (
            [{"platform": "facebook", "account": "jane"}],
            "posts.0: Input tag 'facebook' found using 'platform' does not match",
        ),
        ([{"platform": "x", "account": "@jane"}], "posts.0.x.archive: Field required"),
        (
            [{"platform": "mastodon", "account": "@jane@m.example", "api_url": "ftp://m.example"}],
            "not an http(s) base URL",
        ),
        ([], "give links or posts"),
    ],
)
def test_bad_posts_sources_are_conf_errors(tmp_path: Path, posts, message) -> None:
    with pytest.raises(InvalidCrawlConf) as raised:
        plan_targets({"author": "Jane Doe", "posts": posts}, tmp_path / "unused.yaml")
    assert message in str(raised.value)


def test_single_post_pages_are_refused_with_the_way_to_crawl_posts(settings, mongo_db) -> None:
    links = [
        "https://www.linkedin.com/posts/jane-doe_mlops-activity-7123",
        "https://x.com/jane/status/1790000000000000000",
        "https://mastodon.social/@jane/112233445566778899",
    ]
    targets = plan_targets({"author": "Jane Doe", "links": links}, settings.sources_file)
    with Fetcher(settings) as fetcher, mongo_database(settings) as db:
        reports = [crawl_target(db, fetcher, target, "run-1") for target in targets]
    assert [r.failed_sources for r in reports] == [1, 1, 1]
    reasons = [e["reason"] for e in mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})]
    assert len(reasons) == 3 and all("posts:" in reason for reason in reasons)
