"""The three spellings of an API's rate-limit headers, read as seconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ragdag.crawling.fetching.rate_limit_headers import requests_remaining, retry_after_s, seconds_until_reset

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"X-RateLimit-Reset": "2026-06-01T12:05:00.000Z"}, 300.0),  # Mastodon: an ISO 8601 time
        ({"ratelimit-reset": str(int(NOW.timestamp()) + 90)}, 90.0),  # Bluesky: Unix seconds
        ({"RateLimit-Reset": "30"}, 30.0),  # the IETF draft: seconds from now
        ({"X-RateLimit-Reset": "2026-06-01T11:00:00Z"}, 0.0),  # already past
        ({"X-RateLimit-Reset": "soon"}, None),
        ({}, None),
    ],
)
def test_seconds_until_reset(headers, seconds) -> None:
    assert seconds_until_reset(headers, NOW) == seconds


def test_retry_after_comes_first_then_the_reset() -> None:
    assert retry_after_s({"Retry-After": "7", "X-RateLimit-Reset": "2026-06-01T12:05:00Z"}, NOW) == 7.0
    assert retry_after_s({"Retry-After": "Mon, 01 Jun 2026 12:01:00 GMT"}, NOW) == 60.0
    assert retry_after_s({"x-ratelimit-reset": "2026-06-01T12:00:10Z"}, NOW) == 10.0
    assert retry_after_s({}, NOW) is None


def test_requests_remaining() -> None:
    assert requests_remaining({"X-RateLimit-Remaining": "0"}) == 0
    assert requests_remaining({"ratelimit-remaining": "299"}) == 299
    assert requests_remaining({"RateLimit-Remaining": "n/a"}) is None
    assert requests_remaining({}) is None
