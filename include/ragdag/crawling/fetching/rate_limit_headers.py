"""What an API's rate-limit headers say: how many requests are left, and when the window resets.

Servers spell them three ways: ``Retry-After`` (RFC 9110: seconds or an HTTP date), Mastodon's
``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (an ISO 8601 time) and Bluesky's
``RateLimit-Remaining`` / ``RateLimit-Reset`` (Unix seconds; the IETF draft's delta seconds are
read too: a number below a day is a delta).
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime

_REMAINING = ("x-ratelimit-remaining", "ratelimit-remaining")
_RESET = ("x-ratelimit-reset", "ratelimit-reset")
# A reset number below this is seconds from now (IETF draft), above it a Unix time (Bluesky).
_DELTA_BELOW_S = 86_400


def _header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in names:
        value = lowered.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _seconds_until(value: str, now: datetime) -> float | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number < _DELTA_BELOW_S:
            return max(0.0, number)
        return max(0.0, number - now.timestamp())
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def requests_remaining(headers: Mapping[str, str]) -> int | None:
    """The requests left in the current window, or None when the server does not say."""
    value = _header(headers, _REMAINING)
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def seconds_until_reset(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds until the rate-limit window resets (``X-RateLimit-Reset`` / ``RateLimit-Reset``)."""
    value = _header(headers, _RESET)
    return None if value is None else _seconds_until(value, now or datetime.now(UTC))


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """How long to wait before asking again after a 429 or 503: ``Retry-After`` first, then the
    rate-limit window's reset."""
    now = now or datetime.now(UTC)
    value = _header(headers, ("retry-after",))
    if value is not None:
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    return seconds_until_reset(headers, now)
