"""Local stand-ins for the Mastodon and Bluesky APIs, for the demo (and the tests' fake servers).

They answer the documented JSON shapes: Mastodon's ``/api/v1/accounts/lookup`` and
``/api/v1/accounts/:id/statuses`` (newest first; ``max_id``, ``min_id``, ``since_id``, ``limit``,
``exclude_reblogs``; a ``Link`` header with ``next`` and ``prev``; ``X-RateLimit-*`` headers) and
Bluesky's ``/xrpc/app.bsky.feed.getAuthorFeed`` (``actor``, ``limit``, ``cursor``, ``filter``;
``RateLimit-*`` headers). The responders are pure functions of the state and the query; the demo
serves them on loopback, as it serves the sample site.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

RATE_LIMIT = 300


@dataclass
class ApiReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> ApiReply:
    return ApiReply(status, json.dumps(data).encode("utf-8"), headers or {})


# --- Mastodon --------------------------------------------------------------------------------------


@dataclass
class MastodonState:
    """One server's accounts and statuses (status dicts in the API's shape, ``account_id`` set)."""

    base_url: str
    accounts: dict[str, str] = field(default_factory=dict)  # username -> id
    statuses: list[dict[str, Any]] = field(default_factory=list)
    remaining: int = RATE_LIMIT
    reset_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=5))

    def rate_headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": self.reset_at.isoformat().replace("+00:00", "Z"),
        }


def mastodon_status(
    state: MastodonState,
    username: str,
    status_id: int,
    html: str,
    *,
    created_at: datetime,
    language: str | None = "en",
    spoiler_text: str = "",
    alts: tuple[str, ...] = (),
    visibility: str = "public",
    reblog: bool = False,
    edited_at: datetime | None = None,
) -> dict[str, Any]:
    """A status as ``GET /api/v1/accounts/:id/statuses`` lists it (the fields the crawler reads)."""
    account_id = state.accounts[username]
    host = urlsplit(state.base_url).netloc
    return {
        "id": str(status_id),
        "created_at": created_at.isoformat().replace("+00:00", ".000Z"),
        "edited_at": edited_at.isoformat().replace("+00:00", ".000Z") if edited_at else None,
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": bool(spoiler_text),
        "spoiler_text": spoiler_text,
        "visibility": visibility,
        "language": language,
        "uri": f"{state.base_url}/users/{username}/statuses/{status_id}",
        "url": f"{state.base_url}/@{username}/{status_id}",
        "content": html,
        "reblog": {"id": str(status_id - 1)} if reblog else None,
        "account": {"id": account_id, "username": username, "acct": username, "url": f"https://{host}/@{username}"},
        "media_attachments": [
            {
                "id": f"{status_id}{n}",
                "type": "image",
                "url": f"{state.base_url}/media/{status_id}-{n}.png",
                "description": alt,
            }
            for n, alt in enumerate(alts)
        ],
        "mentions": [],
        "tags": [],
        "card": None,
        "account_id": account_id,
    }


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def mastodon_response(state: MastodonState, path: str, query: dict[str, list[str]]) -> ApiReply:
    headers = state.rate_headers()
    if path == "/api/v1/accounts/lookup":
        acct = (_first(query, "acct") or "").split("@")[0]
        if acct not in state.accounts:
            return _json(404, {"error": "Record not found"}, headers)
        return _json(200, {"id": state.accounts[acct], "username": acct, "acct": acct}, headers)
    parts = path.strip("/").split("/")
    if len(parts) != 5 or parts[:3] != ["api", "v1", "accounts"] or parts[4] != "statuses":
        return _json(404, {"error": "Record not found"}, headers)
    account_id = parts[3]
    if account_id not in state.accounts.values():
        return _json(404, {"error": "Record not found"}, headers)
    limit = min(int(_first(query, "limit") or 20), 40)
    listed = [s for s in state.statuses if s["account_id"] == account_id]
    if _first(query, "exclude_reblogs") == "true":
        listed = [s for s in listed if not s["reblog"]]
    listed.sort(key=lambda s: int(s["id"]), reverse=True)
    if (max_id := _first(query, "max_id")) is not None:
        listed = [s for s in listed if int(s["id"]) < int(max_id)]
    if (since_id := _first(query, "since_id")) is not None:
        listed = [s for s in listed if int(s["id"]) > int(since_id)]
    if (min_id := _first(query, "min_id")) is not None:
        # The statuses immediately newer than min_id, still listed newest first.
        listed = [s for s in listed if int(s["id"]) > int(min_id)][-limit:]
    page = listed[:limit]
    if page:
        base = f"{state.base_url}{path}"
        common = {"exclude_reblogs": "true"} if _first(query, "exclude_reblogs") == "true" else {}
        next_url = f"{base}?{urlencode({**common, 'limit': limit, 'max_id': page[-1]['id']})}"
        prev_url = f"{base}?{urlencode({**common, 'limit': limit, 'min_id': page[0]['id']})}"
        headers["Link"] = f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'
    body = [{k: v for k, v in s.items() if k != "account_id"} for s in page]
    return _json(200, body, headers)


# --- Bluesky ---------------------------------------------------------------------------------------


@dataclass
class BlueskyState:
    """An AppView's authors and feed items (``{"post": postView, "reply"?, "reason"?}``)."""

    handles: dict[str, str] = field(default_factory=dict)  # handle -> DID
    items: list[dict[str, Any]] = field(default_factory=list)
    remaining: int = RATE_LIMIT
    reset_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=5))

    def rate_headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(int(self.reset_at.timestamp())),
            "RateLimit-Policy": f"{RATE_LIMIT};w=300",
        }


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bluesky_post_view(
    did: str,
    handle: str,
    rkey: str,
    text: str,
    *,
    created_at: datetime,
    langs: tuple[str, ...] = ("en",),
    links: tuple[tuple[str, str], ...] = (),
    alts: tuple[str, ...] = (),
    reply_to: dict[str, Any] | None = None,
    root: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``app.bsky.feed.defs#postView``; ``links`` are (shown text, full URL) pairs of ``text``."""
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": _stamp(created_at),
        "langs": list(langs),
    }
    facets = []
    data = text.encode("utf-8")
    for shown, uri in links:
        start = data.index(shown.encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(shown.encode("utf-8"))},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
            }
        )
    if facets:
        record["facets"] = facets
    if alts:
        record["embed"] = {
            "$type": "app.bsky.embed.images",
            "images": [
                {"alt": alt, "image": {"$type": "blob", "mimeType": "image/jpeg", "size": 1000}} for alt in alts
            ],
        }
    if reply_to is not None:
        top = root or reply_to
        record["reply"] = {
            "root": {"uri": top["uri"], "cid": top["cid"]},
            "parent": {"uri": reply_to["uri"], "cid": reply_to["cid"]},
        }
    uri = f"at://{did}/app.bsky.feed.post/{rkey}"
    return {
        "uri": uri,
        "cid": f"bafyrei{rkey}",
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0]},
        "record": record,
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": 0,
        "indexedAt": _stamp(created_at + timedelta(seconds=1)),
        "labels": [],
    }


def bluesky_item(
    view: dict[str, Any], *, parent: dict[str, Any] | None = None, root: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``feedViewPost`` of the author's own post (a reply carries its parent and root views)."""
    item: dict[str, Any] = {"post": view}
    if parent is not None:
        item["reply"] = {
            "root": {"$type": "app.bsky.feed.defs#postView", **(root or parent)},
            "parent": {"$type": "app.bsky.feed.defs#postView", **parent},
        }
    return item


def bluesky_repost(view: dict[str, Any], by_did: str, by_handle: str, at: datetime) -> dict[str, Any]:
    return {
        "post": view,
        "reason": {
            "$type": "app.bsky.feed.defs#reasonRepost",
            "by": {"did": by_did, "handle": by_handle},
            "indexedAt": _stamp(at),
        },
    }


def _sort_time(item: dict[str, Any]) -> str:
    return (item.get("reason") or {}).get("indexedAt") or item["post"]["indexedAt"]


def bluesky_response(state: BlueskyState, path: str, query: dict[str, list[str]]) -> ApiReply:
    headers = state.rate_headers()
    if path != "/xrpc/app.bsky.feed.getAuthorFeed":
        return _json(404, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}, headers)
    actor = _first(query, "actor") or ""
    did = actor if actor.startswith("did:") else state.handles.get(actor.lower())
    if did not in state.handles.values():
        return _json(400, {"error": "InvalidRequest", "message": "Profile not found"}, headers)
    limit = min(int(_first(query, "limit") or 50), 100)
    mine = [
        item
        for item in state.items
        if (item.get("reason") or {}).get("by", {}).get("did") == did
        or (not item.get("reason") and item["post"]["author"]["did"] == did)
    ]
    if _first(query, "filter") == "posts_and_author_threads":
        mine = [
            item
            for item in mine
            if item.get("reason") or "reply" not in item or item["reply"]["root"]["author"]["did"] == did
        ]
    mine.sort(key=_sort_time, reverse=True)
    if (cursor := _first(query, "cursor")) is not None:
        mine = [item for item in mine if _sort_time(item) < cursor]
    page = mine[:limit]
    body: dict[str, Any] = {"feed": page}
    if len(mine) > limit:
        body["cursor"] = _sort_time(page[-1])
    return _json(200, body, headers)


# --- the demo's accounts -----------------------------------------------------------------------------

DEMO_MASTODON_USER = "jane"
DEMO_BLUESKY_HANDLE = "jane.bsky.example"
DEMO_BLUESKY_DID = "did:plc:janedoe2demo3account4abc"
_DEMO_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_MASTODON_POSTS = (
    "<p>Retrieval quality is mostly chunking quality. Cut your documents where their authors "
    "paused, not every 512 tokens, and your recall goes up before you touch the model.</p>",
    "<p>We moved our embedding jobs to Airflow assets this week: a DAG runs when the documents it "
    "reads have changed, and not on a timer. Fewer runs, fresher vectors.</p>",
    "<p>A small habit that pays off: keep a held-out question set for your RAG system and run it "
    "on every release. A number you can compare beats a demo you remember.</p>",
)
_BLUESKY_POSTS = (
    "Fine-tuning a small model on your own writing needs less data than people think: a few "
    "hundred good instruction pairs, checked by hand, go a long way.",
    "Data contracts for an LLM pipeline: every stage validates what it reads, quarantines what "
    "fails, and says why. Great Expectations does the checking for us.",
)


def demo_mastodon_state(base_url: str) -> MastodonState:
    state = MastodonState(base_url=base_url, accounts={DEMO_MASTODON_USER: "109000000000000001"})
    for n, html in enumerate(_MASTODON_POSTS):
        state.statuses.append(
            mastodon_status(
                state, DEMO_MASTODON_USER, 113000000000000000 + n, html, created_at=_DEMO_START + timedelta(days=n)
            )
        )
    return state


def demo_bluesky_state() -> BlueskyState:
    state = BlueskyState(handles={DEMO_BLUESKY_HANDLE: DEMO_BLUESKY_DID})
    first = bluesky_post_view(
        DEMO_BLUESKY_DID, DEMO_BLUESKY_HANDLE, "3lbdemo0001", _BLUESKY_POSTS[0], created_at=_DEMO_START
    )
    reply = bluesky_post_view(
        DEMO_BLUESKY_DID,
        DEMO_BLUESKY_HANDLE,
        "3lbdemo0002",
        "The trick is the checking: a pair that is wrong in your voice teaches the model your mistakes.",
        created_at=_DEMO_START + timedelta(minutes=3),
        reply_to=first,
    )
    other = bluesky_post_view(
        DEMO_BLUESKY_DID,
        DEMO_BLUESKY_HANDLE,
        "3lbdemo0003",
        _BLUESKY_POSTS[1],
        created_at=_DEMO_START + timedelta(days=1),
    )
    state.items += [bluesky_item(first), bluesky_item(reply, parent=first), bluesky_item(other)]
    return state


_LINKEDIN_SHARES = (
    (
        "2026-10-20 08:15:00",
        "https://www.linkedin.com/feed/update/urn:li:share:7250000000000000001",
        "Three things I learned building a RAG platform on Airflow: keep every stage idempotent, "
        "validate data before you embed it, and version your datasets like code.",
        "",
    ),
    (
        "2026-10-27 17:40:00",
        "https://www.linkedin.com/feed/update/urn:li:share:7250000000000000002",
        "Our instruction dataset now ships with a dataset card and readable splits, so anyone can "
        "load it with the datasets library and see where every sample came from.",
        "https://huggingface.co/docs/datasets",
    ),
)


def build_linkedin_archive(path: Path) -> Path:
    """A LinkedIn data export (ZIP) with ``Shares.csv`` in the documented columns; kept when it exists."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Date", "ShareLink", "ShareCommentary", "SharedUrl", "MediaUrl", "Visibility"])
    for date, link, text, shared in _LINKEDIN_SHARES:
        writer.writerow([date, link, text, shared, "", "MEMBER_NETWORK"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Shares.csv", out.getvalue())
        archive.writestr("Profile.csv", "First Name,Last Name\nJane,Doe\n")
    return path


def demo_post_sources(api_base_url: str, data_dir: Path) -> list[dict[str, str]]:
    """The demo's ``posts`` sources: its Mastodon and Bluesky accounts on ``api_base_url`` (see
    :func:`serve_social_apis`) and a LinkedIn archive built under ``data_dir``."""
    host = urlsplit(api_base_url).netloc
    return [
        {"platform": "mastodon", "account": f"@{DEMO_MASTODON_USER}@{host}", "api_url": api_base_url},
        {"platform": "bluesky", "account": DEMO_BLUESKY_HANDLE, "api_url": api_base_url},
        {
            "platform": "linkedin",
            "archive": str(build_linkedin_archive(data_dir / "sample-archives" / "linkedin-export.zip")),
        },
    ]


# A stable port, as the sample site's: the posts' URLs (and so their documents) stay the same.
SOCIAL_APIS_PORT = 18766


@contextmanager
def serve_social_apis(port: int | None = None) -> Iterator[str]:
    """Serve the demo's Mastodon and Bluesky accounts on 127.0.0.1 (one server: their paths do not
    overlap), on ``SOCIAL_APIS_PORT`` or a free port when it is busy; yield its base URL."""
    lock = threading.Lock()
    states: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with lock:
                if parts.path.startswith("/xrpc/"):
                    reply = bluesky_response(states["bluesky"], parts.path, query)
                elif parts.path.startswith("/api/v1/"):
                    reply = mastodon_response(states["mastodon"], parts.path, query)
                else:
                    reply = ApiReply(404, b"not found", content_type="text/plain")
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    try:
        server = ThreadingHTTPServer(("127.0.0.1", SOCIAL_APIS_PORT if port is None else port), Handler)
    except OSError:
        if port is not None:
            raise
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    states["mastodon"] = demo_mastodon_state(base_url)
    states["bluesky"] = demo_bluesky_state()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
