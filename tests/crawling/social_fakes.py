"""Fake Mastodon and Bluesky servers for the posts crawlers' tests: the demo's responders
(documented JSON shapes, paging, rate-limit headers) on the tests' loopback server, with faults
queued in front of them (a 429, bad JSON, an HTML page)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from http_server import Hit, LocalHttpServer, Reply

from ragdag.demo.social_apis import ApiReply, BlueskyState, MastodonState, bluesky_response, mastodon_response

STATUSES_PATH = "/api/v1/accounts/{id}/statuses"
FEED_PATH = "/xrpc/app.bsky.feed.getAuthorFeed"


def _reply(answer: ApiReply) -> Reply:
    return Reply(status=answer.status, body=answer.body, content_type=answer.content_type, headers=answer.headers)


class FakeMastodon:
    def __init__(self, server: LocalHttpServer, username: str = "jane", account_id: str = "109000000000000001") -> None:
        self.server = server
        self.state = MastodonState(base_url=server.url("").rstrip("/"), accounts={username: account_id})
        self.username = username
        self.statuses_path = STATUSES_PATH.format(id=account_id)
        self.faults: list[Reply] = []  # answered to the statuses requests, in order, before the API again
        server.route("/api/v1/accounts/lookup", self._lookup)
        server.route(self.statuses_path, self._answer)

    @property
    def account(self) -> str:
        return f"@{self.username}@{urlsplit(self.state.base_url).netloc}"

    def source(self) -> dict[str, str]:
        return {"platform": "mastodon", "account": self.account, "api_url": self.state.base_url}

    def statuses_hits(self) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(hit.path).query) for hit in self.server.hits_for(self.statuses_path)]

    def _lookup(self, hit: Hit) -> Reply:
        parts = urlsplit(hit.path)
        return _reply(mastodon_response(self.state, parts.path, parse_qs(parts.query)))

    def _answer(self, hit: Hit) -> Reply:
        if self.faults:
            return self.faults.pop(0)
        return self._lookup(hit)


class FakeBluesky:
    def __init__(self, server: LocalHttpServer, handles: dict[str, str]) -> None:
        self.server = server
        self.state = BlueskyState(handles=dict(handles))
        self.faults: list[Reply] = []
        server.route(FEED_PATH, self._answer)

    @property
    def base_url(self) -> str:
        return self.server.url("").rstrip("/")

    def feed_hits(self) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(hit.path).query) for hit in self.server.hits_for(FEED_PATH)]

    def _answer(self, hit: Hit) -> Reply:
        if self.faults:
            return self.faults.pop(0)
        parts = urlsplit(hit.path)
        return _reply(bluesky_response(self.state, parts.path, parse_qs(parts.query)))
