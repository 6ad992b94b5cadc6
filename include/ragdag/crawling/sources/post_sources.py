"""A posts source as a run's conf or ``sources.yaml`` names it: an account, or an export archive.

``{"platform": "mastodon", "account": "@user@instance"}``, ``{"platform": "bluesky", "account":
"handle.bsky.social" | "did:plc:…"}``, ``{"platform": "linkedin" | "x", "archive": "<path or
s3:// URI>"}``. Each is validated here, so that a wrong one fails the run before it starts with a
message naming what to change.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ragdag.crawling.fetching.url_safety import host_key

# Mastodon's acct: a username of letters, digits and underscores, at a host.
_MASTODON_ACCOUNT = re.compile(r"^@?(?P<user>[A-Za-z0-9_]{1,64})@(?P<host>[A-Za-z0-9.-]+(?::[0-9]{1,5})?)$")
# AT Protocol handles are domain names; DIDs are did:plc:… or did:web:….
_BLUESKY_HANDLE = re.compile(r"^(?=.{3,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*$")
_BLUESKY_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9.:%-]{1,253})$")
_MAX_ARCHIVE_CHARS = 1024
# The group of archive sources: read from disk or the object store, no web host to be polite to.
ARCHIVES_HOST = "(post archives)"
# The group of Bluesky accounts: they all go to one AppView (RAGDAG_BLUESKY_APPVIEW_URL).
BLUESKY_HOST = "(bluesky appview)"


def _mastodon_account(value: str) -> str:
    match = _MASTODON_ACCOUNT.match(value.strip())
    if match is None:
        raise ValueError(f"{value[:200]!r} is not a Mastodon account; write it as @user@instance.example")
    return f"@{match['user']}@{match['host'].lower()}"


def _bluesky_actor(value: str) -> str:
    actor = value.strip().removeprefix("@")
    if _BLUESKY_DID.match(actor):
        return actor
    if _BLUESKY_HANDLE.match(actor):
        return actor.lower()
    raise ValueError(f"{value[:200]!r} is not a Bluesky handle or DID; write it as name.bsky.social or did:plc:…")


def _archive_location(value: str) -> str:
    location = value.strip()
    if not location:
        raise ValueError("must not be blank; give the archive's path or s3:// URI")
    if len(location) > _MAX_ARCHIVE_CHARS:
        raise ValueError(f"{len(location)} characters, more than {_MAX_ARCHIVE_CHARS}; give a shorter path")
    scheme = urlsplit(location).scheme.lower()
    if scheme not in ("", "file", "s3") and not re.match(r"^[A-Za-z]:[\\/]", location):
        raise ValueError(f"{location[:200]!r}: an archive is a local path, a file:// or an s3:// URI")
    if scheme == "s3" and not urlsplit(location).netloc:
        raise ValueError(f"{location[:200]!r} names no bucket; write s3://bucket/path/archive.zip")
    return location


def _base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value[:200]!r} is not an http(s) base URL; write it as https://instance.example")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value[:200]!r} carries credentials; the access token comes from an Airflow connection")
    return value.strip().rstrip("/")


class MastodonAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Literal["mastodon"]
    account: Annotated[str, AfterValidator(_mastodon_account)]
    # The server's base URL when it is not https://<instance> (a test or demo server on loopback).
    api_url: Annotated[str, AfterValidator(_base_url)] | None = None

    @property
    def username(self) -> str:
        return self.account.split("@")[1]

    @property
    def instance(self) -> str:
        """``host[:port]`` of the account's server."""
        return self.account.split("@")[2]

    @property
    def base_url(self) -> str:
        return self.api_url or f"https://{self.instance}"


class BlueskyAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Literal["bluesky"]
    account: Annotated[str, AfterValidator(_bluesky_actor)]
    # The AppView's base URL when it is not RAGDAG_BLUESKY_APPVIEW_URL (a demo server on loopback).
    api_url: Annotated[str, AfterValidator(_base_url)] | None = None


class PostArchive(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Literal["linkedin", "x"]
    archive: Annotated[str, AfterValidator(_archive_location)]


PostSource = Annotated[MastodonAccount | BlueskyAccount | PostArchive, Field(discriminator="platform")]


def source_key(source: MastodonAccount | BlueskyAccount | PostArchive) -> str:
    """The identity of a posts source: ``mastodon:@user@host``, ``linkedin:/path/export.zip``."""
    if isinstance(source, PostArchive):
        return f"{source.platform}:{source.archive}"
    return f"{source.platform}:{source.account}"


def source_host(source: MastodonAccount | BlueskyAccount | PostArchive) -> str:
    """The host the source's requests go to, which groups it with that host's other links."""
    if isinstance(source, MastodonAccount):
        return host_key(source.base_url)
    if isinstance(source, BlueskyAccount):
        return host_key(source.api_url) if source.api_url else BLUESKY_HOST
    return ARCHIVES_HOST
