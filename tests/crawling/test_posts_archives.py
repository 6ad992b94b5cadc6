"""LinkedIn and X export archives, made here in their documented formats, read by the real crawler
into real MongoDB; bad archives are refused with a clear error."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from ragdag.crawling.crawl_report import CrawlReport
from ragdag.crawling.fetching.fetcher import Fetcher
from ragdag.crawling.sources.crawl_plan import plan_targets
from ragdag.crawling.sources.dispatcher import crawl_target
from ragdag.documents import DocumentStatus
from ragdag.stores.mongo import CRAWL_ERRORS, mongo_database

AUTHOR = "Jane Doe"
SHARES = [
    (
        "2025-04-01 09:30:00",
        "urn:li:share:7001",
        'Shipping a RAG platform taught me one thing: "validate before you embed".',
        "https://example.com/rag",
    ),
    (
        "2025-04-08 10:00:00",
        "urn:li:share:7002",
        "Line one of a longer post.\nLine two, after a break, about evaluation.",
        "",
    ),
    ("2025-04-09 11:00:00", "urn:li:share:7003", "", "https://example.com/reshared-without-words"),
]


def linkedin_zip(path: Path, shares=SHARES, extra: dict[str, bytes] | None = None) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Date", "ShareLink", "ShareCommentary", "SharedUrl", "MediaUrl", "Visibility"])
    for date, urn, text, shared in shares:
        writer.writerow([date, f"https://www.linkedin.com/feed/update/{urn}", text, shared, "", "MEMBER_NETWORK"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Shares.csv", out.getvalue())
        archive.writestr("Connections.csv", "First Name,Last Name\n")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def tweet(tweet_id: str, text: str, *, urls=(), media=(), lang="en") -> dict:
    return {
        "tweet": {
            "id_str": tweet_id,
            "id": tweet_id,
            "full_text": text,
            "created_at": "Wed Oct 10 20:19:24 +0000 2018",
            "lang": lang,
            "retweeted": False,
            "entities": {
                "urls": [{"url": short, "expanded_url": long, "display_url": long[8:30]} for short, long in urls],
                "media": [{"url": short, "expanded_url": "https://x.com/jane/status/1/photo/1"} for short in media],
                "hashtags": [],
                "user_mentions": [],
            },
        }
    }


TWEETS = [
    tweet(
        "1001",
        "Our eval set caught a regression today https://t.co/abc123",
        urls=[("https://t.co/abc123", "https://example.com/evals")],
    ),
    tweet("1002", "RT @someone: a retweet is not the author's voice"),
    tweet("1003", "A picture of our dashboard https://t.co/pic999", media=["https://t.co/pic999"]),
]


def x_zip(path: Path, tweets=TWEETS) -> Path:
    script = "window.YTD.tweets.part0 = " + json.dumps(tweets, indent=2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/tweets.js", script)
        archive.writestr("data/account.js", 'window.YTD.account.part0 = [{"account": {"username": "jane"}}]')
    return path


def crawl(settings, platform: str, archive: Path | str, run_id: str = "run-1", **overrides) -> CrawlReport:
    [target] = plan_targets(
        {"author": AUTHOR, "posts": [{"platform": platform, "archive": str(archive)}]}, settings.sources_file
    )
    with Fetcher(settings.model_copy(update=overrides)) as fetcher, mongo_database(settings) as db:
        return crawl_target(db, fetcher, target, run_id)


def test_linkedin_export(settings, mongo_db, tmp_path) -> None:
    archive = linkedin_zip(tmp_path / "Basic_LinkedInDataExport.zip")

    report = crawl(settings, "linkedin", archive)

    assert (report.new, report.failed) == (2, 0)  # the reshare without words is not a post of theirs
    doc = mongo_db.posts.find_one({"post.platform_id": "https://www.linkedin.com/feed/update/urn:li:share:7001"})
    assert doc["platform"] == "linkedin"
    assert (
        doc["content"]
        == 'Shipping a RAG platform taught me one thing: "validate before you embed".\n\nhttps://example.com/rag'
    )
    assert doc["published_at"].isoformat().startswith("2025-04-01T09:30:00")
    two = mongo_db.posts.find_one({"post.platform_id": {"$regex": "7002$"}})
    assert "Line one of a longer post.\nLine two" in two["content"]


def test_unchanged_archive_is_not_read_again_and_a_deleted_post_is_gone(settings, mongo_db, tmp_path) -> None:
    archive = linkedin_zip(tmp_path / "export.zip")
    crawl(settings, "linkedin", archive)

    again = crawl(settings, "linkedin", archive, "run-2")
    assert (again.new, again.updated, again.unchanged) == (0, 0, 0)

    linkedin_zip(archive, shares=SHARES[1:])  # a newer export: the first post was deleted
    newer = crawl(settings, "linkedin", archive, "run-3")
    assert (newer.new, newer.updated, newer.unchanged) == (0, 0, 1)
    gone = mongo_db.posts.find_one({"post.platform_id": {"$regex": "7001$"}})
    assert gone["validation"]["status"] == DocumentStatus.GONE


def test_x_archive_skips_retweets_and_expands_links(settings, mongo_db, tmp_path) -> None:
    report = crawl(settings, "x", x_zip(tmp_path / "twitter-2025.zip"))

    assert report.new == 2
    docs = {d["post"]["platform_id"]: d for d in mongo_db.posts.find()}
    assert set(docs) == {"1001", "1003"}
    assert docs["1001"]["content"] == "Our eval set caught a regression today https://example.com/evals"
    assert docs["1001"]["url"] == "https://x.com/i/web/status/1001" and docs["1001"]["language"] == "en"
    assert docs["1003"]["content"] == "A picture of our dashboard"


def test_x_archive_split_in_parts(settings, mongo_db, tmp_path) -> None:
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps(TWEETS[:1]))
        out.writestr("data/tweets-part1.js", "window.YTD.tweets.part1 = " + json.dumps(TWEETS[2:]))
    assert crawl(settings, "x", archive).new == 2
    assert {d["post"]["platform_id"] for d in mongo_db.posts.find()} == {"1001", "1003"}


def _crawl_error(settings, mongo_db, platform: str, archive, **overrides) -> str:
    report = crawl(settings, platform, archive, **overrides)
    assert report.failed_sources == 1 and report.new == 0
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-1"})
    return error["reason"]


def test_path_traversing_member_is_refused(settings, mongo_db, tmp_path) -> None:
    archive = linkedin_zip(tmp_path / "evil.zip", extra={"../../etc/cron.d/evil": b"* * * * * root sh"})
    assert "leaves the archive" in _crawl_error(settings, mongo_db, "linkedin", archive)


def test_zip_bomb_is_refused(settings, mongo_db, tmp_path) -> None:
    archive = linkedin_zip(tmp_path / "bomb.zip", extra={"padding.bin": b"\0" * 20_000_000})
    assert "zip bomb" in _crawl_error(settings, mongo_db, "linkedin", archive)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"posts_archive_max_bytes": 100}, "RAGDAG_POSTS_ARCHIVE_MAX_BYTES"),
        ({"posts_archive_max_members": 1}, "RAGDAG_POSTS_ARCHIVE_MAX_MEMBERS"),
        ({"posts_archive_max_uncompressed_bytes": 10}, "RAGDAG_POSTS_ARCHIVE_MAX_UNCOMPRESSED_BYTES"),
    ],
)
def test_caps(settings, mongo_db, tmp_path, overrides, reason) -> None:
    assert reason in _crawl_error(settings, mongo_db, "linkedin", linkedin_zip(tmp_path / "a.zip"), **overrides)


def test_bad_archives(settings, mongo_db, tmp_path) -> None:
    not_zip = tmp_path / "export.zip"
    not_zip.write_bytes(b"<html>a download page, not the archive</html>")
    assert "not a ZIP archive" in _crawl_error(settings, mongo_db, "linkedin", not_zip)
    mongo_db[CRAWL_ERRORS].delete_many({})
    assert "no shares.csv" in _crawl_error(settings, mongo_db, "linkedin", x_zip(tmp_path / "x.zip")).lower()
    mongo_db[CRAWL_ERRORS].delete_many({})
    assert "no archive at" in _crawl_error(settings, mongo_db, "x", tmp_path / "missing.zip")
    mongo_db[CRAWL_ERRORS].delete_many({})
    broken = tmp_path / "broken-x.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("data/tweets.js", "window.YTD.tweets.part0 = [{")
    assert "not valid JSON" in _crawl_error(settings, mongo_db, "x", broken)


def test_archive_from_the_object_store(aws_s3_settings, mongo_db, moto_endpoint, tmp_path) -> None:
    import boto3

    bucket = aws_s3_settings.object_store_url.removeprefix("s3://").split("/")[0]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key="exports/jane/x.zip", Body=x_zip(tmp_path / "x.zip").read_bytes())

    report = crawl(aws_s3_settings, "x", f"s3://{bucket}/exports/jane/x.zip")
    assert (report.new, report.failed_sources) == (2, 0)

    missing = crawl(aws_s3_settings, "x", f"s3://{bucket}/exports/jane/none.zip", "run-2")
    assert missing.failed_sources == 1
    [error] = mongo_db[CRAWL_ERRORS].find({"run_id": "run-2"})
    assert "check the URI and access" in error["reason"]
