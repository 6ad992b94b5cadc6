"""A Mastodon account's own posts, through the server's public REST API.

``/api/v1/accounts/lookup?acct=`` resolves the account once; ``/api/v1/accounts/:id/statuses``
with ``exclude_reblogs=true`` is read page by page by following its ``Link`` header:

- the first crawl reads from the newest status down (``rel="next"``, ``max_id``), at most
  ``RAGDAG_POSTS_MAX_PAGES`` pages a run; the history not reached is read by the next runs;
- later crawls ask for what is newer than the newest stored status (``min_id``, then
  ``rel="prev"``), and re-read the newest page (``RAGDAG_POSTS_REVISIT_PAGES``): an edited status
  (``edited_at``) updates its document, a stored one missing from that page's id range was
  deleted (or made private) and is marked gone.

Only public and unlisted statuses are kept: an access token (the ``password`` of the Airflow
connection ``RAGDAG_MASTODON_CONN_ID``) raises the rate limit, and must not bring in private posts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from ragdag.crawling.document_store import WriteOutcome
from ragdag.crawling.fetching.fetcher import PermanentFetchError
from ragdag.crawling.sources.post_cursors import PostCursor, load_cursor, save_cursor
from ragdag.crawling.sources.post_sources import MastodonAccount, source_key
from ragdag.crawling.sources.posts import (
    JsonApi,
    Post,
    expect,
    html_to_text,
    mark_missing_gone,
    store_post,
    stored_posts,
)
from ragdag.stores.connections import find_connection

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext

log = logging.getLogger(__name__)

PAGE_SIZE = 40  # the API's maximum for statuses
PUBLIC_VISIBILITIES = frozenset({"public", "unlisted"})


def _access_token(conn_id: str) -> str | None:
    """The ``password`` of the Airflow connection, when it is defined (the API is public without)."""
    if not conn_id:
        return None
    connection = find_connection(conn_id)
    return (connection.password or None) if connection is not None else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def status_to_post(status: dict[str, Any]) -> Post | None:
    """A status as a post, or None when it is not one of the author's public posts."""
    if status.get("reblog") or status.get("visibility") not in PUBLIC_VISIBILITIES:
        return None
    media = status.get("media_attachments") or []
    card = status.get("card") or {}
    return Post(
        platform="mastodon",
        platform_id=str(status["id"]),
        url=str(status.get("url") or status.get("uri") or ""),
        text=html_to_text(status.get("content")),
        created_at=_time(status.get("created_at")),
        edited_at=_time(status.get("edited_at")),
        language=status.get("language") if isinstance(status.get("language"), str) else None,
        content_warning=(status.get("spoiler_text") or "").strip() or None,
        media_descriptions=[str(m.get("description")) for m in media if isinstance(m, dict) and m.get("description")],
        links=[str(card["url"])] if isinstance(card, dict) and card.get("url") else [],
        visibility=status.get("visibility"),
    )


def _statuses(page_data: Any, url: str) -> list[dict[str, Any]]:
    statuses = expect(page_data, list, url, "the statuses")
    for status in statuses:
        if not isinstance(status, dict) or not isinstance(status.get("id"), str | int):
            raise PermanentFetchError(url, "unexpected API answer: a status without an id")
    return statuses


def _link(headers: Any, rel: str, base: str) -> str | None:
    """The ``rel`` link of a ``Link`` header, if it stays on the API's own host."""
    value = headers.get("Link") or headers.get("link")
    if not value:
        return None
    for link in requests.utils.parse_header_links(value):
        if link.get("rel") == rel and link.get("url"):
            target = link["url"]
            if (urlsplit(target).hostname or "").lower() == (urlsplit(base).hostname or "").lower():
                return target
    return None


def _id_number(status_id: str) -> int:
    return int(status_id) if status_id.isdigit() else -1


class _Run:
    """One crawl of one account: the budget of pages, the outcomes, the ids seen."""

    def __init__(self, ctx: CrawlContext, account: MastodonAccount, api: JsonApi) -> None:
        self.ctx = ctx
        self.account = account
        self.source = source_key(account)
        self.api = api
        self.pages_left = ctx.settings.posts_max_pages
        self.outcomes: list[WriteOutcome] = []
        self.stored_ids: set[str] = set()  # a status stored once a run, whichever pass saw it

    def read(self, url: str, *, counted: bool = True) -> tuple[list[dict[str, Any]], Any]:
        self.pages_left -= counted
        page = self.api.get(url)
        return _statuses(page.data, page.url), page.headers

    def store(self, statuses: list[dict[str, Any]]) -> None:
        for status in statuses:
            post = status_to_post(status)
            if post is not None and post.url and post.platform_id not in self.stored_ids:
                self.stored_ids.add(post.platform_id)
                self.outcomes.append(store_post(self.ctx, self.source, post))


def _resolve(run: _Run, cursor: PostCursor) -> str:
    if cursor.account_id:
        return cursor.account_id
    base = run.account.base_url
    url = f"{base}/api/v1/accounts/lookup?{urlencode({'acct': run.account.username})}"
    found = expect(run.api.get(url).data, dict, url, "the account")
    if not found.get("id"):
        raise PermanentFetchError(url, f"{run.account.account} is not an account on {base}")
    if found.get("noindex") is True:
        # The owner asked for their public posts not to be indexed by robots (Mastodon's noindex).
        raise PermanentFetchError(
            url, f"{run.account.account} asks robots not to index its posts (noindex); remove the source"
        )
    cursor.account_id = str(found["id"])
    return cursor.account_id


def _newest(ids: list[str], current: str | None) -> str | None:
    numbers = [i for i in ids if i.isdigit()]
    if current and current.isdigit():
        numbers.append(current)
    return max(numbers, key=int) if numbers else current


def crawl_mastodon(ctx: CrawlContext, account: MastodonAccount) -> list[WriteOutcome]:
    token = _access_token(ctx.settings.mastodon_conn_id)
    api = JsonApi(ctx, headers={"Authorization": f"Bearer {token}"} if token else None)
    run = _Run(ctx, account, api)
    cursor = load_cursor(ctx.db, run.source)
    account_id = _resolve(run, cursor)
    statuses_url = f"{account.base_url}/api/v1/accounts/{quote(account_id, safe='')}/statuses"
    query = {"exclude_reblogs": "true", "limit": str(PAGE_SIZE)}

    if cursor.newest_id is None:
        _read_down(run, cursor, f"{statuses_url}?{urlencode(query)}")
    else:
        _read_up(run, cursor, f"{statuses_url}?{urlencode({**query, 'min_id': cursor.newest_id})}")
        _revisit(run, f"{statuses_url}?{urlencode(query)}")
        if cursor.backfill_max_id:
            _read_down(run, cursor, f"{statuses_url}?{urlencode({**query, 'max_id': cursor.backfill_max_id})}")
    save_cursor(ctx.db, cursor)
    return run.outcomes


def _read_down(run: _Run, cursor: PostCursor, url: str | None) -> None:
    """Newest to oldest by ``rel="next"`` (``max_id``), within the page budget."""
    while url and run.pages_left > 0:
        statuses, headers = run.read(url)
        run.store(statuses)
        ids = [str(s["id"]) for s in statuses]
        cursor.newest_id = _newest(ids, cursor.newest_id)
        url = _link(headers, "next", url) if statuses else None
        cursor.backfill_max_id = min(ids, key=_id_number) if url else None
        save_cursor(run.ctx.db, cursor)  # a retry goes on from here
    if url:
        log.info("%s: page budget (RAGDAG_POSTS_MAX_PAGES) spent; older posts on the next crawl", run.source)


def _read_up(run: _Run, cursor: PostCursor, url: str | None) -> None:
    """What is newer than the newest stored status: ``min_id`` pages, then ``rel="prev"``."""
    while url and run.pages_left > 0:
        statuses, headers = run.read(url)
        if not statuses:
            return
        run.store(statuses)
        cursor.newest_id = _newest([str(s["id"]) for s in statuses], cursor.newest_id)
        save_cursor(run.ctx.db, cursor)
        url = _link(headers, "prev", url)


def _revisit(run: _Run, url: str | None) -> None:
    """Re-read the newest pages: edits update their documents, the stored statuses missing from
    the id range those pages cover are gone."""
    pages = run.ctx.settings.posts_revisit_pages
    listed: list[dict[str, Any]] = []
    while url and pages > 0:
        statuses, headers = run.read(url, counted=False)  # its own budget: the setting
        pages -= 1
        if not statuses:
            break
        listed += statuses
        url = _link(headers, "next", url)
    run.store(listed)
    if not listed:
        return
    oldest = min(_id_number(str(s["id"])) for s in listed)
    seen = {str(s["id"]) for s in listed if status_to_post(s) is not None}
    # The listing is contiguous from its oldest id up to now: what is stored in between and not
    # listed was deleted or is no longer public.
    in_range = [p for p in stored_posts(run.ctx, run.source) if _id_number(p.platform_id) >= oldest]
    mark_missing_gone(run.ctx, run.source, in_range, seen)
