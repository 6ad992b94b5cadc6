"""The fetcher against a real HTTP server on 127.0.0.1, plus its robots.txt and rate-limit parts."""

from __future__ import annotations

import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from itertools import pairwise
from typing import Any

import pytest
from http_server import Hit, LocalHttpServer, Reply, html, redirect, running_server

from ragdag.crawling.fetching import fetcher as fetcher_module
from ragdag.crawling.fetching import url_safety
from ragdag.crawling.fetching.fetcher import (
    Fetcher,
    FetchError,
    PermanentFetchError,
    TransientFetchError,
    fetch_page,
)
from ragdag.crawling.fetching.rate_limit import HostRateLimiter
from ragdag.crawling.fetching.robots import RobotsCache, RobotsPolicy, product_token
from ragdag.settings import Settings, get_settings

USER_AGENT = "ragdag-crawler/0.1 (+https://github.com/ragdag/ragdag)"


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with running_server() as running:
        yield running


MakeFetcher = Callable[..., Fetcher]


@pytest.fixture
def make_fetcher() -> Iterator[MakeFetcher]:
    """Fetchers for loopback tests: private networks allowed, no delay, fast retries."""
    made: list[Fetcher] = []

    def make(*, max_retries: int = 2, rate_limiter: HostRateLimiter | None = None, **settings: Any) -> Fetcher:
        values: dict[str, Any] = {
            "allow_private_networks": True,
            "per_host_delay_s": 0.0,
            "http_timeout_s": 2.0,
            "user_agent": USER_AGENT,
        }
        fetcher = Fetcher(
            Settings(**{**values, **settings}),
            max_retries=max_retries,
            backoff_base_s=0.01,
            rate_limiter=rate_limiter,
        )
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


def _fail_then(*statuses: int, headers: dict[str, str] | None = None) -> Callable[[Hit], Reply]:
    """A route answering the given error statuses once each, then a page."""
    replies = iter(statuses)

    def route(_hit: Hit) -> Reply:
        status = next(replies, None)
        if status is None:
            return html("finally")
        return Reply(status=status, body=b"busy", headers=headers or {})

    return route


# --- pages ----------------------------------------------------------------------------------


def test_fetches_a_page(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/article/", html("hello"))
    # Requested as written (the server may insist on its trailing slash), reported normalized.
    result = make_fetcher().fetch(server.url("/article/?utm_source=feed#top"))

    assert result.status == 200
    assert b"<p>hello</p>" in result.content
    assert result.url == result.final_url == server.url("/article")
    assert result.content_type == "text/html; charset=utf-8"
    assert not result.not_modified
    assert result.fetched_at.tzinfo == UTC
    assert result.elapsed_s >= 0
    [hit] = server.hits_for("/article/")
    assert hit.path == "/article/?utm_source=feed"
    assert hit.headers["user-agent"] == USER_AGENT
    assert hit.headers["accept"] == "text/html"


@pytest.mark.parametrize("status", [404, 410, 403])
def test_client_errors_are_permanent(server: LocalHttpServer, make_fetcher: MakeFetcher, status: int) -> None:
    server.route("/gone", Reply(status=status))
    with pytest.raises(PermanentFetchError, match=f"HTTP {status}") as caught:
        make_fetcher().fetch(server.url("/gone"))
    assert caught.value.status == status
    assert caught.value.url == server.url("/gone")
    assert len(server.hits_for("/gone")) == 1  # never retried


def test_non_html_is_permanent_unless_allowed(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/paper.pdf", Reply(body=b"%PDF-1.7", content_type="application/pdf"))
    fetcher = make_fetcher()
    with pytest.raises(PermanentFetchError, match=r"not HTML.*application/pdf"):
        fetcher.fetch(server.url("/paper.pdf"))
    result = fetcher.fetch(server.url("/paper.pdf"), accept="application/pdf", require_html=False)
    assert result.content == b"%PDF-1.7"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_too_large_pages_are_permanent(server: LocalHttpServer, make_fetcher: MakeFetcher, chunked: bool) -> None:
    server.route("/huge", Reply(body=b"<html>" + b"x" * 10_000, chunked=chunked))
    fetcher = make_fetcher()
    with pytest.raises(PermanentFetchError, match="too large"):
        fetcher.fetch(server.url("/huge"), max_bytes=5_000)
    assert len(fetcher.fetch(server.url("/huge"), max_bytes=10_006).content) == 10_006


def test_max_page_bytes_setting_is_the_default_limit(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/huge", Reply(body=b"x" * 2_000, chunked=True))
    with pytest.raises(PermanentFetchError, match="too large: more than 1000 bytes"):
        make_fetcher(max_page_bytes=1_000).fetch(server.url("/huge"))


# --- conditional GET ------------------------------------------------------------------------


def test_conditional_get_with_etag_and_last_modified(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    validators = {"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2025 07:28:00 GMT"}

    def route(hit: Hit) -> Reply:
        if hit.headers.get("if-none-match") == '"v1"':
            return Reply(status=304, content_type=None, headers={"ETag": '"v1"'})
        return Reply(body=b"<html>v1</html>", headers=validators)

    server.route("/page", route)
    fetcher = make_fetcher()
    first = fetcher.fetch(server.url("/page"))
    assert (first.etag, first.last_modified) == ('"v1"', "Wed, 21 Oct 2025 07:28:00 GMT")

    again = fetcher.fetch(server.url("/page"), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.status == 304 and again.content == b""
    # The server repeated only the ETag; the Last-Modified we sent is still current.
    assert (again.etag, again.last_modified) == (first.etag, first.last_modified)
    second_hit = server.hits_for("/page")[1]
    assert second_hit.headers["if-modified-since"] == first.last_modified


# --- redirects and the SSRF guard -----------------------------------------------------------


def test_redirect_chain_reports_final_url(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/old", redirect("/moved"))  # relative Location
    server.route("/moved", redirect(server.url("/Final/", host="LOCALHOST"), status=301))
    server.route("/Final/", html("arrived"))
    result = make_fetcher().fetch(server.url("/old"))
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/Final", host="localhost")
    assert b"arrived" in result.content


def test_credentials_go_only_to_the_host_they_were_given_for(
    server: LocalHttpServer, make_fetcher: MakeFetcher
) -> None:
    server.route("/api/same", redirect("/api/moved"))
    server.route("/api/moved", redirect(server.url("/elsewhere", host="localhost")))
    server.route("/elsewhere", Reply(body=b"{}", content_type="application/json", headers={"X-Seen": "1"}))
    result = make_fetcher().fetch(
        server.url("/api/same"), accept="application/json", require_html=False, headers={"Authorization": "Bearer t"}
    )
    assert result.headers["x-seen"] == "1"  # the final response's headers, any case
    assert [h.headers.get("authorization") for h in server.hits_for("/api/same")] == ["Bearer t"]
    assert [h.headers.get("authorization") for h in server.hits_for("/api/moved")] == ["Bearer t"]
    assert [h.headers.get("authorization") for h in server.hits_for("/elsewhere")] == [None]


def test_too_many_redirects_are_permanent(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/loop", lambda hit: redirect(f"/loop?n={len(server.hits_for('/loop'))}"))
    with pytest.raises(PermanentFetchError, match="more than 5 redirects"):
        make_fetcher().fetch(server.url("/loop"))
    assert len(server.hits_for("/loop")) == 6


def test_loopback_is_refused_when_private_networks_are_not_allowed(
    server: LocalHttpServer, make_fetcher: MakeFetcher
) -> None:
    server.route("/", html("internal"))
    with pytest.raises(PermanentFetchError, match=r"unsafe URL.*loopback"):
        make_fetcher(allow_private_networks=False).fetch(server.url("/"))
    assert server.hits == []


def test_redirect_to_loopback_is_refused(
    server: LocalHttpServer, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server can only be on loopback, so pretend "/public" and its robots.txt are public
    # pages; the hop to "/admin" then meets the real guard, as a redirect to 127.0.0.1 would.
    def guard_as_if_public(url: str, allow_private_networks: bool) -> list:
        public = url.endswith(("/public", "/robots.txt"))
        return url_safety.check_url_is_safe(url, allow_private_networks or public)

    monkeypatch.setattr(fetcher_module, "check_url_is_safe", guard_as_if_public)
    server.route("/public", redirect(server.url("/admin")))
    server.route("/admin", html("secrets"))
    with pytest.raises(PermanentFetchError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        make_fetcher(allow_private_networks=False).fetch(server.url("/public"))
    assert len(server.hits_for("/public")) == 1
    assert server.hits_for("/admin") == []


def test_unresolvable_host_is_transient(make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(TransientFetchError, match="cannot resolve"):
        make_fetcher(allow_private_networks=False, max_retries=0).fetch("https://news.example/a")


# --- transient failures and retries ---------------------------------------------------------


def test_slow_server_times_out_as_transient(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/slow", Reply(body=b"<html></html>", delay_s=1.0))
    started = time.monotonic()
    with pytest.raises(TransientFetchError, match=r"no answer within 0\.2s"):
        make_fetcher(http_timeout_s=0.2, max_retries=0).fetch(server.url("/slow"))
    assert time.monotonic() - started < 0.9


def test_server_error_then_success_is_retried(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/flaky", _fail_then(500))
    result = make_fetcher(max_retries=2).fetch(server.url("/flaky"))
    assert b"finally" in result.content
    assert len(server.hits_for("/flaky")) == 2


def test_persistent_server_error_raises_transient_after_retries(
    server: LocalHttpServer, make_fetcher: MakeFetcher
) -> None:
    server.route("/down", _fail_then(*[503] * 10))
    with pytest.raises(TransientFetchError, match="HTTP 503") as caught:
        make_fetcher(max_retries=2).fetch(server.url("/down"))
    assert caught.value.status == 503
    assert len(server.hits_for("/down")) == 3


def test_short_retry_after_is_honoured(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/busy", _fail_then(429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    assert make_fetcher(max_retries=1).fetch(server.url("/busy")).status == 200
    hits = server.hits_for("/busy")
    assert len(hits) == 2 and hits[1].at - hits[0].at >= 0.9
    assert time.monotonic() - started < 3


def test_long_retry_after_is_left_to_airflow(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/busy", _fail_then(429, headers={"Retry-After": "3600"}))
    with pytest.raises(TransientFetchError) as caught:
        make_fetcher(max_retries=2).fetch(server.url("/busy"))
    assert caught.value.retry_after_s == 3600
    assert len(server.hits_for("/busy")) == 1


def test_fetch_errors_survive_pickling() -> None:
    error = TransientFetchError("https://a.example/", "HTTP 503", status=503, retry_after_s=2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, TransientFetchError) and isinstance(copy, FetchError)
    assert (copy.url, copy.reason, copy.status, copy.retry_after_s) == (
        "https://a.example/",
        "HTTP 503",
        503,
        2.0,
    )
    assert str(copy) == str(error)


# --- robots.txt -----------------------------------------------------------------------------


def test_robots_txt_is_honoured_and_cached(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private\n", content_type="text/plain"))
    server.route("/private/page", html("no"))
    server.route("/public/page", html("yes"))
    fetcher = make_fetcher()

    with pytest.raises(PermanentFetchError, match=r"robots\.txt") as caught:
        fetcher.fetch(server.url("/private/page"))
    assert "'ragdag-crawler'" in caught.value.reason
    assert b"yes" in fetcher.fetch(server.url("/public/page")).content
    assert server.hits_for("/private/page") == []
    assert len(server.hits_for("/robots.txt")) == 1


def test_robots_txt_redirect_target_is_checked(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    # Each hop has its own robots.txt: the redirect lands on a path the site forbids.
    server.route("/robots.txt", Reply(body=b"User-agent: ragdag-crawler\nDisallow: /members\n"))
    server.route("/login", redirect("/members/area"))
    with pytest.raises(PermanentFetchError, match="disallows"):
        make_fetcher().fetch(server.url("/login"))
    assert server.hits_for("/members/area") == []


def test_missing_robots_txt_allows_everything(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/page", html("ok"))
    assert make_fetcher().fetch(server.url("/page")).status == 200
    assert len(server.hits_for("/robots.txt")) == 1  # answered 404


def test_failing_robots_txt_is_transient(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/robots.txt", Reply(status=503))
    server.route("/page", html("ok"))
    with pytest.raises(TransientFetchError, match=r"robots\.txt must be readable"):
        make_fetcher(max_retries=0).fetch(server.url("/page"))
    assert server.hits_for("/page") == []


ROBOTS = """
# comments and unknown lines are ignored
Sitemap: https://example.com/sitemap.xml
Disallow: /before-any-group

User-agent: *
Disallow: /

User-agent: RagDag-Crawler/2.0
User-agent: otherbot
Disallow: /drafts
Allow: /drafts/public
Disallow: /*.pdf$
Disallow: /search?
Disallow:

User-agent: ragdag-crawler
Disallow: /tmp/
"""


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),  # our group, not "*", applies
        ("/before-any-group", True),
        ("/drafts", False),
        ("/drafts/2024/post", False),
        ("/drafts/public", True),  # the longer rule wins
        ("/drafts/public/more", True),
        ("/paper.pdf", False),
        ("/paper.pdf?download=1", True),  # "$" anchors the end
        ("/search?q=x", False),
        ("/search", True),
        ("/tmp/file", False),  # groups naming us are merged
        ("/robots.txt", True),
    ],
)
def test_robots_policy_rules(path: str, allowed: bool) -> None:
    policy = RobotsPolicy.parse(ROBOTS, USER_AGENT)
    assert policy.allows(f"https://example.com{path}") is allowed


def test_robots_policy_ties_and_fallback_group() -> None:
    tie = RobotsPolicy.parse("User-agent: *\nDisallow: /page\nAllow: /page\n", "otherbot/1.0")
    assert tie.allows("https://example.com/page")
    everyone = RobotsPolicy.parse(ROBOTS, "unknownbot/1.0")
    assert not everyone.allows("https://example.com/anything")
    assert RobotsPolicy.parse("", USER_AGENT).allows("https://example.com/x")


def test_robots_policy_compares_percent_escapes_canonically() -> None:
    policy = RobotsPolicy.parse("User-agent: *\nDisallow: /caf%c3%a9\n", USER_AGENT)
    assert not policy.allows("https://example.com/café")


def test_product_token() -> None:
    assert product_token(USER_AGENT) == "ragdag-crawler"
    with pytest.raises(ValueError, match="product"):
        product_token("/1.0")


def test_robots_cache_keeps_policies_per_origin_until_ttl() -> None:
    now = [0.0]
    cache = RobotsCache(ttl_s=10, clock=lambda: now[0])
    loads: list[str] = []

    def load(url: str) -> RobotsPolicy:
        loads.append(url)
        return RobotsPolicy.allow_all()

    cache.policy_for("https://a.example/x", load)
    cache.policy_for("https://A.example:443/y", load)
    cache.policy_for("https://b.example/x", load)
    now[0] = 11
    cache.policy_for("https://a.example/z", load)
    assert loads == [
        "https://a.example/robots.txt",
        "https://b.example/robots.txt",
        "https://a.example/robots.txt",
    ]


def test_robots_cache_does_not_keep_failures() -> None:
    cache = RobotsCache()

    def failing(url: str) -> RobotsPolicy:
        raise TransientFetchError(url, "HTTP 503")

    with pytest.raises(TransientFetchError):
        cache.policy_for("https://a.example/x", failing)
    assert cache.policy_for("https://a.example/x", lambda url: RobotsPolicy.allow_all()).allows("https://a.example/x")


# --- rate limiting --------------------------------------------------------------------------


def test_rate_limiter_spaces_one_host_but_not_others() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = HostRateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    assert limiter.wait("a.example") == 0
    assert limiter.wait("b.example") == 0
    assert limiter.wait("A.example") == 2.0
    assert limiter.wait("a.example") == 2.0
    now[0] += 10
    assert limiter.wait("a.example") == 0


def _gaps(hits: list[Hit]) -> list[float]:
    return [later.at - earlier.at for earlier, later in pairwise(hits)]


def test_requests_to_one_host_are_spaced(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    delay, pages = 0.15, 4
    for n in range(pages):
        server.route(f"/p{n}", html(str(n)))
    fetcher = make_fetcher(per_host_delay_s=delay)
    started = time.monotonic()
    for n in range(pages):
        fetcher.fetch(server.url(f"/p{n}"))
    # robots.txt is a request too: pages + 1 requests, pages gaps.
    assert time.monotonic() - started >= (pages - 1) * delay
    assert min(_gaps(server.hits)) >= delay  # counted from the last answer: arrivals too


def test_different_hosts_do_not_wait_for_each_other(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    delay, pages = 0.2, 3
    server.route("/page", html("ok"))
    limiter = HostRateLimiter(delay)  # shared, as crawl threads would share it

    def crawl(host: str) -> None:
        fetcher = make_fetcher(rate_limiter=limiter)
        for n in range(pages):
            fetcher.fetch(server.url(f"/page?n={n}", host=host))

    threads = [threading.Thread(target=crawl, args=(host,)) for host in ("127.0.0.1", "localhost")]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    per_host = pages  # robots.txt + pages requests, so `pages` gaps of `delay` on each host
    for host in ("127.0.0.1", "localhost"):
        hits = [hit for hit in server.hits if hit.host == host]
        assert len(hits) == pages + 1
        assert min(_gaps(hits)) >= delay
    # One host after the other would take 2 * per_host * delay; interleaved, about half.
    assert per_host * delay - 0.01 <= elapsed < 2 * per_host * delay - 0.1


# --- the convenience function ---------------------------------------------------------------


def test_fetch_page_uses_the_settings(server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.route("/article", html("via settings"))
    monkeypatch.setenv("RAGDAG_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("RAGDAG_PER_HOST_DELAY_S", "0")
    get_settings.cache_clear()
    try:
        assert b"via settings" in fetch_page(server.url("/article")).content
    finally:
        get_settings.cache_clear()


# --- Crawl-delay ----------------------------------------------------------------------------


def test_robots_crawl_delay_is_parsed_for_our_group() -> None:
    text = "User-agent: *\nCrawl-delay: 9\n\nUser-agent: ragdag-crawler\nCrawl-delay: 2.5\nDisallow: /x\n"
    assert RobotsPolicy.parse(text, USER_AGENT).crawl_delay_s == 2.5  # our group, not "*"
    assert RobotsPolicy.parse(text, "otherbot/1.0").crawl_delay_s == 9
    assert RobotsPolicy.parse("User-agent: *\nCrawl-delay: soon\n", USER_AGENT).crawl_delay_s is None
    assert RobotsPolicy.parse("User-agent: *\nCrawl-delay: -3\n", USER_AGENT).crawl_delay_s is None
    assert RobotsPolicy.parse("User-agent: *\nDisallow: /a\n", USER_AGENT).crawl_delay_s is None


def test_rate_limiter_takes_the_larger_of_its_delay_and_the_hosts() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = HostRateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    limiter.wait("a.example")
    limiter.set_host_delay("A.example", 3.0)
    limiter.set_host_delay("a.example", 0.5)  # the larger one stays
    assert limiter.wait("a.example") == 3.0
    assert limiter.wait("b.example") == 0
    assert limiter.wait("b.example") == 1.0


def test_crawl_delay_of_robots_txt_spaces_the_requests(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    crawl_delay, pages = 0.4, 3
    server.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 0.4\n", content_type="text/plain"))
    for n in range(pages):
        server.route(f"/p{n}", html(str(n)))
    fetcher = make_fetcher(per_host_delay_s=0.05)  # smaller than the site asks: the site's wins
    for n in range(pages):
        fetcher.fetch(server.url(f"/p{n}"))
    page_hits = [hit for hit in server.hits if hit.path != "/robots.txt"]
    assert len(page_hits) == pages
    assert min(_gaps(server.hits)) >= crawl_delay


def test_crawl_delay_above_the_limit_is_refused(server: LocalHttpServer, make_fetcher: MakeFetcher) -> None:
    server.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 3600\n", content_type="text/plain"))
    server.route("/page", html("ok"))
    with pytest.raises(PermanentFetchError, match=r"Crawl-delay: 3600 s, more than RAGDAG_MAX_CRAWL_DELAY_S=60"):
        make_fetcher().fetch(server.url("/page"))
    assert server.hits_for("/page") == []


# --- redirect to another scheme -------------------------------------------------------------


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://files.example.com/a", "gopher://x/"])
def test_redirect_to_a_non_http_url_is_refused_clearly(
    server: LocalHttpServer, make_fetcher: MakeFetcher, target: str
) -> None:
    server.route("/jump", redirect(target))
    with pytest.raises(PermanentFetchError, match=r"redirect to a non-http\(s\) URL refused") as caught:
        make_fetcher().fetch(server.url("/jump"))
    assert target in caught.value.reason and "not an absolute URL" not in caught.value.reason


# --- DNS rebinding: connect to the checked address ------------------------------------------


@pytest.fixture
def second_loopback_server(server: LocalHttpServer) -> Iterator[LocalHttpServer]:
    """A server on 127.0.0.2 with the same port as ``server`` (on 127.0.0.1)."""
    other = LocalHttpServer.__new__(LocalHttpServer)
    other.routes, other.hits, other._lock = {}, [], threading.Lock()
    other._httpd = fetching_test_httpd(other, server.port)
    other.port = server.port
    other.start()
    try:
        yield other
    finally:
        other.stop()


def fetching_test_httpd(owner: LocalHttpServer, port: int):
    from http.server import ThreadingHTTPServer

    return ThreadingHTTPServer(("127.0.0.2", port), owner._handler_class())


def _rebinding_resolver(host: str, answers: list[str]) -> Callable[..., list[tuple[Any, ...]]]:
    """getaddrinfo answering ``host`` with the next of ``answers`` at each lookup (then the last)."""
    real = socket.getaddrinfo
    lookups = iter(answers)
    last = [answers[-1]]

    def getaddrinfo(name: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if name != host:
            return real(name, port, *args, **kwargs)
        address = next(lookups, last[0])
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    return getaddrinfo


def test_connection_goes_to_the_checked_address_not_a_second_lookup(
    server: LocalHttpServer,
    second_loopback_server: LocalHttpServer,
    make_fetcher: MakeFetcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The guard's lookups (the page's, then its robots.txt's) answer 127.0.0.1, taken as public
    # here; any later one answers 127.0.0.2, as a rebinding DNS server would. Both servers listen
    # on the same port.
    server.route("/page", html("checked"))
    second_loopback_server.route("/page", html("rebound"))
    real_kind = url_safety.internal_address_kind
    monkeypatch.setattr(url_safety, "internal_address_kind", lambda a: None if str(a) == "127.0.0.1" else real_kind(a))
    answers = ["127.0.0.1", "127.0.0.1", "127.0.0.2"]
    monkeypatch.setattr(socket, "getaddrinfo", _rebinding_resolver("rebind.test", answers))
    fetcher = make_fetcher(allow_private_networks=False)

    result = fetcher.fetch(f"http://rebind.test:{server.port}/page")

    assert b"checked" in result.content
    assert second_loopback_server.hits == []
    assert {hit.host for hit in server.hits} == {"rebind.test"}  # the Host header keeps the name


def test_rebinding_to_loopback_after_a_public_answer_never_reaches_loopback(
    server: LocalHttpServer, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guard sees a "public" address (TEST-NET-3: unroutable, taken as public here); any second
    # lookup would say 127.0.0.1.
    server.route("/admin", html("secrets"))
    real_kind = url_safety.internal_address_kind
    monkeypatch.setattr(
        url_safety, "internal_address_kind", lambda a: None if str(a) == "203.0.113.7" else real_kind(a)
    )
    answers = ["203.0.113.7", "203.0.113.7", "127.0.0.1"]
    monkeypatch.setattr(socket, "getaddrinfo", _rebinding_resolver("rebind.test", answers))
    fetcher = make_fetcher(allow_private_networks=False, http_timeout_s=0.5, max_retries=0)
    with pytest.raises(TransientFetchError, match=r"connection failed|no answer within"):
        fetcher.fetch(f"http://rebind.test:{server.port}/admin")
    assert server.hits == []


def test_rate_limiter_counts_the_delay_from_the_last_answer() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = HostRateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    limiter.wait("a.example")
    now[0] += 0.4  # the answer took 0.4 s
    limiter.answered("a.example")
    assert limiter.wait("a.example") == pytest.approx(1.0)  # a full delay after the answer, not 0.6


# --- what the task log says -------------------------------------------------------------------


def _fetch_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == fetcher_module.__name__]


def test_the_log_names_each_decision_once_without_query_secrets(
    server: LocalHttpServer, make_fetcher: MakeFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private\n", content_type="text/plain"))
    server.route("/private/page", html("no"))
    server.route("/flaky", _fail_then(503))
    server.route("/same", lambda hit: Reply(status=304, content_type=None, headers={"ETag": '"v1"'}))
    fetcher = make_fetcher(max_retries=2)
    caplog.set_level("INFO", logger=fetcher_module.__name__)

    with pytest.raises(PermanentFetchError):
        fetcher.fetch(server.url("/private/page?token=s3cr3t"))
    fetcher.fetch(server.url("/flaky"))
    fetcher.fetch(server.url("/same"), etag='"v1"')

    lines = _fetch_log(caplog)
    assert [line for line in lines if "robots.txt refused" in line] == [
        f"robots.txt refused {server.url('/private/page')}?… for user agent 'ragdag-crawler'"
    ]
    assert [line.split(" in ")[0] for line in lines if line.startswith("retry")] == [
        f"retry 1 of 2 of {server.url('/flaky')}"
    ]
    assert any(line.endswith("after HTTP 503") for line in lines)
    assert [line for line in lines if line.startswith("304")] == [
        f"304 not modified: {server.url('/same')} (the stored copy stands)"
    ]
    assert not any("s3cr3t" in line for line in lines)


def test_loggable_url_drops_user_info_and_query_values() -> None:
    url = "https://user:pw@Example.com:8443/a/b?key=1#f"  # pragma: allowlist secret
    assert url_safety.loggable_url(url) == "https://example.com:8443/a/b?…"
    assert url_safety.loggable_url("https://example.com/a") == "https://example.com/a"
