"""Posts from the archives LinkedIn and X let their owners download (neither has a public API to
read a person's posts).

- LinkedIn's data export (a ZIP) holds ``Shares.csv``: ``Date``, ``ShareLink``,
  ``ShareCommentary``, ``SharedUrl``, ``MediaUrl``, ``Visibility``; one row per post.
- X's archive (a ZIP) holds ``data/tweets.js`` (``data/tweet.js`` in older ones), a script
  ``window.YTD.tweets.part0 = [{"tweet": {...}}, ...]``; retweets are skipped, and the t.co links
  of the text are replaced by the ``expanded_url`` of its ``entities.urls``.

An archive is named by a local path, a ``file://`` or an ``s3://`` URI. It is read in memory and
never extracted: still, a member whose path climbs out of the archive, an archive over
``RAGDAG_POSTS_ARCHIVE_MAX_BYTES``, more members than ``RAGDAG_POSTS_ARCHIVE_MAX_MEMBERS`` or
more than ``RAGDAG_POSTS_ARCHIVE_MAX_UNCOMPRESSED_BYTES`` once inflated (a zip bomb) is refused.
An archive whose SHA-256 is the one read last time is not read again; a post missing from a
newer archive of the same source was deleted, and is marked gone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ragdag.crawling.fetching.fetcher import PermanentFetchError, TransientFetchError
from ragdag.crawling.sources.post_cursors import load_cursor, save_cursor
from ragdag.crawling.sources.post_sources import PostArchive, source_key
from ragdag.crawling.sources.posts import Post, mark_missing_gone, store_post, stored_posts

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext
    from ragdag.crawling.document_store import WriteOutcome
    from ragdag.settings import Settings

log = logging.getLogger(__name__)

# One compressed byte inflating to more than this many is a zip bomb, whatever the totals.
MAX_COMPRESSION_RATIO = 200
_READ_CHUNK = 1 << 16


class ArchiveError(PermanentFetchError):
    """An archive that cannot be read as given; the message says what to change."""


def read_archive_bytes(location: str, settings: Settings) -> bytes:
    """The archive's bytes, from disk or the object store, refused past the size cap."""
    cap = settings.posts_archive_max_bytes
    parts = urlsplit(location)
    if parts.scheme.lower() == "s3":
        return _read_s3(location, parts.netloc, parts.path.lstrip("/"), settings, cap)
    path = Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(location).expanduser()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ArchiveError(location, f"no archive at {path}; check the path in the posts source") from None
    except OSError as exc:
        raise ArchiveError(location, f"cannot read {path}: {exc.strerror}") from None
    _check_size(location, size, cap)
    return path.read_bytes()


def _check_size(location: str, size: int, cap: int) -> None:
    if size > cap:
        raise ArchiveError(
            location,
            f"the archive is {size} bytes, more than RAGDAG_POSTS_ARCHIVE_MAX_BYTES={cap}; "
            "raise the setting or export a smaller archive (posts only)",
        )


def _read_s3(location: str, bucket: str, key: str, settings: Settings, cap: int) -> bytes:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    try:
        obj = S3Hook(aws_conn_id=settings.aws_conn_id).get_key(key, bucket_name=bucket)
        _check_size(location, int(obj.content_length or 0), cap)
        return obj.get()["Body"].read(cap + 1)
    except ArchiveError:
        raise
    except Exception as exc:  # botocore's errors: a missing key or no access is permanent
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "403", "AccessDenied", "NoSuchBucket"):
            raise ArchiveError(location, f"the object store answered {code}; check the URI and access") from None
        raise TransientFetchError(
            location, f"cannot read the archive from the object store: {type(exc).__name__}"
        ) from None


def _unsafe_member(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name)) or ".." in path.parts


def open_zip(location: str, data: bytes, settings: Settings) -> zipfile.ZipFile:
    """The archive as a ZIP, its member list checked (paths, count, declared sizes)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ArchiveError(location, "not a ZIP archive; give the export's .zip file as downloaded") from None
    members = archive.infolist()
    if len(members) > settings.posts_archive_max_members:
        raise ArchiveError(
            location,
            f"{len(members)} members, more than RAGDAG_POSTS_ARCHIVE_MAX_MEMBERS="
            f"{settings.posts_archive_max_members}; this is not a posts export",
        )
    total = 0
    for member in members:
        if _unsafe_member(member.filename):
            raise ArchiveError(
                location, f"member {member.filename[:200]!r} has a path that leaves the archive; refused"
            )
        total += member.file_size
        if member.compress_size and member.file_size / member.compress_size > MAX_COMPRESSION_RATIO:
            raise ArchiveError(
                location,
                f"member {member.filename[:200]!r} inflates {member.file_size // member.compress_size}-fold "
                f"(more than {MAX_COMPRESSION_RATIO}): a zip bomb; refused",
            )
    if total > settings.posts_archive_max_uncompressed_bytes:
        raise ArchiveError(
            location,
            f"{total} bytes once uncompressed, more than RAGDAG_POSTS_ARCHIVE_MAX_UNCOMPRESSED_BYTES="
            f"{settings.posts_archive_max_uncompressed_bytes}; refused",
        )
    return archive


def _member_text(location: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, settings: Settings) -> str:
    """A member's text, read in chunks up to the uncompressed cap whatever its header declares."""
    cap = settings.posts_archive_max_uncompressed_bytes
    body = bytearray()
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_READ_CHUNK):
                body += chunk
                if len(body) > cap:
                    raise ArchiveError(
                        location, f"{member.filename[:200]!r} inflates past {cap} bytes: a zip bomb; refused"
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ArchiveError(
            location, f"{member.filename[:200]!r} is damaged ({type(exc).__name__}); export again"
        ) from None
    return body.decode("utf-8-sig", errors="replace")


def read_members(
    location: str, archive: zipfile.ZipFile, pattern: re.Pattern[str], what: str, settings: Settings
) -> list[str]:
    """The texts of the members whose path (lower case, ``/`` separated) matches ``pattern``, in
    path order; refused when there is none."""
    found = sorted(
        (info for info in archive.infolist() if pattern.search(info.filename.replace("\\", "/").lower())),
        key=lambda info: info.filename,
    )
    if not found:
        raise ArchiveError(location, f"no {what} in the archive; is this the right platform's export?")
    return [_member_text(location, archive, info, settings) for info in found]


# --- LinkedIn ------------------------------------------------------------------------------------


_SHARES = re.compile(r"(^|/)shares\.csv$")


def _linkedin_time(value: str) -> datetime | None:
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def linkedin_posts(location: str, archive: zipfile.ZipFile, settings: Settings) -> list[Post]:
    [text, *_] = read_members(location, archive, _SHARES, "Shares.csv", settings)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"Date", "ShareLink", "ShareCommentary"} - set(reader.fieldnames or [])
    if missing:
        raise ArchiveError(location, f"Shares.csv has no {', '.join(sorted(missing))} column; is it LinkedIn's export?")
    posts = []
    for row in reader:
        link = (row.get("ShareLink") or "").strip()
        commentary = (row.get("ShareCommentary") or "").strip()
        if not link.startswith(("http://", "https://")) or not commentary:
            continue  # a reshare without words of the author's own
        shared = (row.get("SharedUrl") or "").strip()
        posts.append(
            Post(
                platform="linkedin",
                platform_id=link,
                url=link,
                text=commentary + (f"\n\n{shared}" if shared else ""),
                created_at=_linkedin_time(row.get("Date") or ""),
                links=[shared] if shared else [],
                visibility=(row.get("Visibility") or "").strip() or None,
            )
        )
    return posts


# --- X -------------------------------------------------------------------------------------------

_YTD_PREFIX = re.compile(r"^\s*window\.YTD\.[A-Za-z_]+\.part\d+\s*=\s*")


def _x_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def _x_text(tweet: dict[str, Any]) -> tuple[str, list[str]]:
    text = str(tweet.get("full_text") or tweet.get("text") or "")
    entities = tweet.get("entities") or {}
    links = []
    for entity in entities.get("urls") or []:
        short, expanded = (entity or {}).get("url"), (entity or {}).get("expanded_url")
        if isinstance(short, str) and isinstance(expanded, str) and short:
            text = text.replace(short, expanded)
            links.append(expanded)
    for media in entities.get("media") or []:  # the picture's own t.co link is not the author's text
        short = (media or {}).get("url")
        if isinstance(short, str) and short:
            text = text.replace(short, "")
    return text.strip(), links


# Large archives split the tweets over data/tweets-part1.js, -part2.js, … beside data/tweets.js.
_TWEETS = re.compile(r"(^|/)data/tweets?(-part\d+)?\.js$")


def _tweets_of(location: str, script: str) -> list[Any]:
    match = _YTD_PREFIX.match(script)
    if match is None:
        raise ArchiveError(
            location, "data/tweets.js does not start with window.YTD.tweets.part0 = ; is it X's archive?"
        )
    try:
        items = json.loads(script[match.end() :].strip().rstrip(";"))
    except json.JSONDecodeError as exc:
        raise ArchiveError(
            location, f"data/tweets.js is not valid JSON after its prefix: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(items, list):
        raise ArchiveError(location, "data/tweets.js holds no list of tweets")
    return items


def x_posts(location: str, archive: zipfile.ZipFile, settings: Settings) -> list[Post]:
    items = [
        item
        for script in read_members(location, archive, _TWEETS, "data/tweets.js", settings)
        for item in _tweets_of(location, script)
    ]
    posts = []
    for item in items:
        tweet = (item or {}).get("tweet") if isinstance(item, dict) else None
        if not isinstance(tweet, dict) or not str(tweet.get("id_str") or tweet.get("id") or "").isdigit():
            continue
        raw = str(tweet.get("full_text") or "")
        if tweet.get("retweeted") is True or "retweeted_status" in tweet or raw.startswith("RT @"):
            continue
        text, links = _x_text(tweet)
        tweet_id = str(tweet.get("id_str") or tweet.get("id"))
        posts.append(
            Post(
                platform="x",
                platform_id=tweet_id,
                url=f"https://x.com/i/web/status/{tweet_id}",
                text=text,
                created_at=_x_time(tweet.get("created_at")),
                language=tweet.get("lang") if tweet.get("lang") not in (None, "und", "zxx", "qme") else None,
                links=links,
            )
        )
    return posts


ARCHIVE_READERS: dict[str, Callable[[str, zipfile.ZipFile, Settings], list[Post]]] = {
    "linkedin": linkedin_posts,
    "x": x_posts,
}


def crawl_archive(ctx: CrawlContext, source: PostArchive) -> list[WriteOutcome]:
    key = source_key(source)
    data = read_archive_bytes(source.archive, ctx.settings)
    digest = hashlib.sha256(data).hexdigest()
    cursor = load_cursor(ctx.db, key)
    if cursor.archive_sha256 == digest:
        log.info("%s: the archive is the one read last time (sha256 %s…); nothing to read", key, digest[:12])
        return []
    with open_zip(source.archive, data, ctx.settings) as archive:
        posts = ARCHIVE_READERS[source.platform](source.archive, archive, ctx.settings)
    outcomes = [store_post(ctx, key, post) for post in posts]
    # An export holds every post its owner still has: the stored ones it lacks were deleted.
    mark_missing_gone(ctx, key, stored_posts(ctx, key), {post.platform_id for post in posts})
    cursor.archive_sha256 = digest
    save_cursor(ctx.db, cursor)
    return outcomes
