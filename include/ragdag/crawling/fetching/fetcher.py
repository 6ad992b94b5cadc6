"""The crawler's HTTP client: polite (robots.txt with its Crawl-delay, per-host delay, honest
User-Agent) and safe (SSRF guard on every redirect hop, connections pinned to the addresses it
checked, size limit, timeouts).

Failures are split for the caller, an Airflow task: ``TransientFetchError`` is worth retrying
later (after this module's own few quick retries), ``PermanentFetchError`` is not.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ragdag.crawling.fetching.pinned_adapter import PinnedAddressAdapter
from ragdag.crawling.fetching.rate_limit import HostRateLimiter
from ragdag.crawling.fetching.rate_limit_headers import retry_after_s
from ragdag.crawling.fetching.robots import RobotsCache, RobotsPolicy, product_token, robots_url
from ragdag.crawling.fetching.url_safety import (
    ALLOWED_SCHEMES,
    IpAddress,
    UnsafeUrlError,
    check_url_is_safe,
    host_key,
    loggable_url,
    normalize_url,
)
from ragdag.errors import PermanentError
from ragdag.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
# A Retry-After longer than this is not slept through in-process: blocking a worker slot for
# minutes is worse than failing now and letting Airflow's retry_delay do the waiting.
MAX_RETRY_AFTER_S = 5.0
HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# RFC 9309 §2.5: crawlers must parse at least the first 500 KiB of a robots.txt.
ROBOTS_MAX_BYTES = 500 * 1024
_CHUNK_BYTES = 64 * 1024
_HINT = "the server rejects the request; check the URL"
_CLIENT_ERROR_HINTS = {
    401: "the page needs a login; crawl only public pages",
    403: "the site refuses the crawler; drop the URL or ask the site for access",
    404: "the page is gone; remove or fix the URL",
    410: "the page is gone; remove or fix the URL",
}


class FetchError(Exception):
    """A page could not be fetched: ``url`` is the page asked for, ``reason`` what to change."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*self.args); ours need (url, reason) and their keyword fields
        # back, or they cannot cross a process boundary (executors, multiprocessing pools).
        return (type(self), (self.url, self.reason), self.__dict__)


class TransientFetchError(FetchError):
    """Timeout, connection failure, HTTP 408/429/5xx: retry later."""

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(url, reason, status=status)
        self.retry_after_s = retry_after_s


class PermanentFetchError(FetchError, PermanentError):
    """Gone, forbidden (by status or robots.txt), unsafe, not HTML, too large: do not retry."""


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested, normalized
    final_url: str  # after redirects, normalized
    status: int
    content: bytes  # empty when not_modified
    content_type: str  # the raw Content-Type header
    etag: str | None
    last_modified: str | None
    not_modified: bool
    fetched_at: datetime  # UTC
    elapsed_s: float  # wall time of the successful attempt, redirects and robots.txt included
    headers: Mapping[str, str] = field(default_factory=dict)  # the final response's (any case)


def parse_content_type(header: str) -> tuple[str, str | None]:
    """``("text/html", "iso-8859-1")`` from ``text/html; charset="ISO-8859-1"``."""
    media_type, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return media_type.strip().lower(), charset


def _retry_after_s(response: requests.Response) -> float | None:
    """Retry-After as seconds (delay-seconds or an HTTP date), else the API's rate-limit reset."""
    return retry_after_s(response.headers)


def _cause(error: TransientFetchError) -> str:
    """What went wrong, for a log line: the status, or the kind of network failure (its text can
    carry a URL with a token)."""
    if error.status is not None:
        return f"HTTP {error.status}"
    return type(error.__cause__).__name__ if error.__cause__ is not None else "a transient failure"


def _hop_note(page: str, url: str) -> str:
    """The " (at <url>)" suffix when a failure happened on a redirect hop or robots.txt."""
    return "" if normalize_url(url) == page else f" (at {url})"


class Fetcher:
    """Fetches pages politely and safely; use it as a context manager to close its session.

    ``requests.Session`` is not documented as thread-safe, so give each thread its own Fetcher
    and pass them the same ``HostRateLimiter`` and ``RobotsCache`` to stay polite as a whole.
    A given ``session`` gets this fetcher's pinning transport mounted for http(s).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        session: requests.Session | None = None,
        rate_limiter: HostRateLimiter | None = None,
        robots: RobotsCache | None = None,
        max_retries: int = 2,
        backoff_base_s: float = 0.5,
    ) -> None:
        if max_retries < 0 or backoff_base_s < 0:
            raise ValueError("max_retries and backoff_base_s must be >= 0")
        self.settings = settings or get_settings()
        self.user_agent = self.settings.user_agent
        self._robots_agent = product_token(self.user_agent)  # fail now on an unusable agent
        self._owns_session = session is None
        self._session = session or requests.Session()
        # Every request connects to the addresses the SSRF guard checked (no second DNS lookup).
        self._transport = PinnedAddressAdapter()
        for scheme in ALLOWED_SCHEMES:
            self._session.mount(f"{scheme}://", self._transport)
        self._rate_limiter = rate_limiter or HostRateLimiter(self.settings.per_host_delay_s)
        self._robots = robots or RobotsCache()
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- public ---------------------------------------------------------------------------------

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "text/html",
        require_html: bool = True,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET ``url``; pass the ``etag`` / ``last_modified`` of the last fetch to get a cheap 304.

        The URL is requested as given (servers may redirect a normalized spelling back to it);
        the result reports normalized URLs. Extra ``headers`` go with it (an API's
        ``Authorization``, which is never sent on to another host a redirect points at).
        """
        try:
            page = normalize_url(url)
        except ValueError as exc:
            raise PermanentFetchError(url, str(exc)) from exc
        headers = {**(headers or {}), "Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        limit = self.settings.max_page_bytes if max_bytes is None else max_bytes
        attempt = 0
        while True:
            try:
                return self._fetch_once(page, url.strip(), headers, require_html, limit)
            except TransientFetchError as exc:
                delay = self._retry_delay(attempt, exc)
                if delay is None:
                    log.warning(
                        "%s failed %d time(s), last with %s: left to the task's retries",
                        loggable_url(page),
                        attempt + 1,
                        _cause(exc),
                    )
                    raise
                log.warning(
                    "retry %d of %d of %s in %.1f s after %s",
                    attempt + 1,
                    self.max_retries,
                    loggable_url(page),
                    delay,
                    _cause(exc),
                )
                time.sleep(delay)
            attempt += 1

    # --- one attempt ----------------------------------------------------------------------------

    def _retry_delay(self, attempt: int, exc: TransientFetchError) -> float | None:
        """Seconds to wait before the next in-process attempt, or None to give up now."""
        if attempt >= self.max_retries:
            return None
        if exc.retry_after_s is not None and exc.retry_after_s > MAX_RETRY_AFTER_S:
            return None
        backoff = self.backoff_base_s * 2**attempt
        # Jitter keeps parallel tasks that failed together from retrying in lockstep.
        return max(random.uniform(backoff / 2, backoff), exc.retry_after_s or 0.0)

    def _fetch_once(self, page: str, url: str, headers: dict[str, str], require_html: bool, limit: int) -> FetchResult:
        started = time.monotonic()
        response, final_url = self._open(page, url, headers, check_robots=True)
        with response:
            not_modified = response.status_code == 304
            if not_modified:
                log.info("304 not modified: %s (the stored copy stands)", loggable_url(page))
            else:
                self._raise_for_status(page, final_url, response)
            content_type = response.headers.get("Content-Type", "")
            media_type, _ = parse_content_type(content_type)
            if require_html and not not_modified and media_type not in HTML_MEDIA_TYPES:
                raise PermanentFetchError(
                    page,
                    f"not HTML: content type is {media_type or 'missing'!r}"
                    f"{_hop_note(page, final_url)}; pass require_html=False for other documents",
                    status=response.status_code,
                )
            content = b"" if not_modified else self._read_body(page, final_url, response, limit)
        # A 304 need not repeat the validators; the ones we sent are then still the current ones.
        sent = headers if not_modified else {}
        return FetchResult(
            url=page,
            final_url=normalize_url(final_url),
            status=response.status_code,
            content=content,
            content_type=content_type,
            etag=response.headers.get("ETag") or sent.get("If-None-Match"),
            last_modified=response.headers.get("Last-Modified") or sent.get("If-Modified-Since"),
            not_modified=not_modified,
            fetched_at=datetime.now(UTC),
            elapsed_s=time.monotonic() - started,
            headers=response.headers,
        )

    def _open(
        self, page: str, url: str, headers: dict[str, str], *, check_robots: bool
    ) -> tuple[requests.Response, str]:
        """GET ``url``, following redirects by hand so every hop passes the guards.

        Returns the final, still unread response (the caller closes it) and its URL.
        """
        current = url
        first_host = host_key(url)
        for _ in range(MAX_REDIRECTS + 1):
            addresses = self._guard(page, current, check_robots=check_robots)
            self._transport.pin(current, addresses)
            if host_key(current) != first_host:  # credentials are for the host they were given for
                headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
            response = self._send(page, current, headers)
            location = self._session.get_redirect_target(response)
            if location is None:
                return response, current
            response.close()
            current = urljoin(current, location)
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ALLOWED_SCHEMES:
                raise PermanentFetchError(
                    page,
                    f"redirect to a non-http(s) URL refused: {current[:200]!r} "
                    f"(scheme {scheme or 'missing'!r}); only http and https are followed",
                )
            try:
                normalize_url(current)
            except ValueError as exc:
                raise PermanentFetchError(page, f"redirected to an invalid URL: {exc}") from exc
        raise PermanentFetchError(
            page, f"more than {MAX_REDIRECTS} redirects (the last to {current}); use the final URL"
        )

    def _guard(self, page: str, url: str, *, check_robots: bool) -> list[IpAddress]:
        """Check ``url`` (SSRF guard, robots.txt); return the addresses the request may go to."""
        try:
            addresses = check_url_is_safe(url, self.settings.allow_private_networks)
        except UnsafeUrlError as exc:
            raise PermanentFetchError(page, f"unsafe URL: {exc}") from exc
        except OSError as exc:  # socket.gaierror: DNS failed, which is often temporary
            raise TransientFetchError(page, f"cannot resolve the host of {url}: {exc}") from exc
        if not check_robots:
            return addresses
        policy = self._robots.policy_for(url, lambda robots: self._load_robots(page, robots))
        if not policy.allows(url):
            log.info("robots.txt refused %s for user agent %r", loggable_url(url), self._robots_agent)
            raise PermanentFetchError(
                page,
                f"robots.txt ({robots_url(url)}) disallows {url} for user agent "
                f"{self._robots_agent!r}; remove this URL from the source",
            )
        self._apply_crawl_delay(page, url, policy)
        return addresses

    def _apply_crawl_delay(self, page: str, url: str, policy: RobotsPolicy) -> None:
        delay = policy.crawl_delay_s
        if delay is None:
            return
        limit = self.settings.max_crawl_delay_s
        if delay > limit:
            log.info("robots.txt of %s asks for Crawl-delay %g s > %g s: not crawled", host_key(url), delay, limit)
            raise PermanentFetchError(
                page,
                f"robots.txt ({robots_url(url)}) asks for Crawl-delay: {delay:g} s, more than "
                f"RAGDAG_MAX_CRAWL_DELAY_S={limit:g}; the host is not crawled (raise the setting "
                "to crawl it that slowly)",
            )
        self._rate_limiter.set_host_delay(host_key(url), delay)

    def _load_robots(self, page: str, robots: str) -> RobotsPolicy:
        try:
            response, final_url = self._open(page, robots, {"Accept": "text/plain"}, check_robots=False)
        except PermanentFetchError:
            # RFC 9309 §2.3.1.2: a robots.txt behind too many (or unfollowable) redirects counts
            # as unavailable, which allows everything; each page hop is still guarded itself.
            return RobotsPolicy.allow_all()
        with response:
            status = response.status_code
            if status == 429 or status >= 500:
                # RFC 9309 §2.3.1.4 says assume "disallow all"; retrying later is the same
                # thing for a batch crawler and keeps the page from being marked gone.
                raise TransientFetchError(
                    page,
                    f"{robots} answered HTTP {status}; robots.txt must be readable before crawling",
                    status=status,
                    retry_after_s=_retry_after_s(response),
                )
            if not 200 <= status < 300:
                return RobotsPolicy.allow_all()  # RFC 9309 §2.3.1.3: 4xx means no rules
            body = self._read_body(page, final_url, response, ROBOTS_MAX_BYTES, truncate=True)
        return RobotsPolicy.parse(body.decode("utf-8", errors="replace"), self.user_agent)

    def _send(self, page: str, url: str, headers: dict[str, str]) -> requests.Response:
        host = host_key(url)
        self._rate_limiter.wait(host)
        timeout = self.settings.http_timeout_s
        try:
            return self._session.get(
                url,
                headers={"User-Agent": self.user_agent, **headers},
                timeout=(timeout, timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise TransientFetchError(
                page, f"no answer within {timeout}s (RAGDAG_HTTP_TIMEOUT_S){_hop_note(page, url)}"
            ) from exc
        except requests.ConnectionError as exc:
            note = _hop_note(page, url)
            raise TransientFetchError(page, f"connection failed{note}: {exc}") from exc
        except requests.RequestException as exc:
            note = _hop_note(page, url)
            raise PermanentFetchError(page, f"request rejected{note}: {exc}") from exc
        finally:
            self._rate_limiter.answered(host)

    def _raise_for_status(self, page: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"HTTP {status} {response.reason or ''}".rstrip() + _hop_note(page, url)
        if status in (408, 429) or status >= 500:
            raise TransientFetchError(
                page,
                f"{where}: the server is busy or failing, retry later",
                status=status,
                retry_after_s=_retry_after_s(response),
            )
        raise PermanentFetchError(page, f"{where}: {_CLIENT_ERROR_HINTS.get(status, _HINT)}", status=status)

    def _read_body(
        self,
        page: str,
        url: str,
        response: requests.Response,
        limit: int,
        *,
        truncate: bool = False,
    ) -> bytes:
        """The body, up to ``limit`` bytes after decompression (a small gzip can inflate hugely).

        Past the limit: ``truncate`` keeps the first ``limit`` bytes, otherwise the page is refused.
        """
        too_large = (
            f"too large: more than {limit} bytes{_hop_note(page, url)}; "
            "raise max_bytes or RAGDAG_MAX_PAGE_BYTES to accept it"
        )
        declared = response.headers.get("Content-Length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise PermanentFetchError(page, f"{too_large} (Content-Length: {declared})", status=response.status_code)
        body = bytearray()
        try:
            for chunk in response.iter_content(_CHUNK_BYTES):
                body += chunk
                if len(body) > limit:
                    if truncate:
                        return bytes(body[:limit])
                    raise PermanentFetchError(page, too_large, status=response.status_code)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # A read timeout while streaming surfaces as ConnectionError.
            note = _hop_note(page, url)
            raise TransientFetchError(page, f"download interrupted{note}: {exc}") from exc
        except requests.RequestException as exc:  # e.g. ContentDecodingError: a broken gzip body
            note = _hop_note(page, url)
            raise PermanentFetchError(page, f"unreadable body{note}: {exc}") from exc
        return bytes(body)


def fetch_page(url: str) -> FetchResult:
    """Fetch one HTML page with the default settings (``ragdag extract URL``)."""
    with Fetcher() as fetcher:
        return fetcher.fetch(url)
