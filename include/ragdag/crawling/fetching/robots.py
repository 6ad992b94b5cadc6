"""robots.txt (RFC 9309): parse the rules for our user agent, check URLs, cache per origin.

``urllib.robotparser`` is not used: it applies the first matching rule instead of the longest one
and has no ``*`` / ``$`` wildcards, so it allows pages that sites meant to forbid.
Fetching robots.txt is the fetcher's job (it needs the SSRF guard and the rate limiter); this
module only parses and caches.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from ragdag.crawling.fetching.url_safety import QUERY_SAFE, normalize_url, quote_url_component

# RFC 9309 §2.4: crawlers SHOULD NOT use a cached robots.txt for more than 24 hours.
DEFAULT_TTL_S = 24 * 3600.0
_PRODUCT_TOKEN = re.compile(r"[A-Za-z_-]+")


def product_token(user_agent: str) -> str:
    """The name robots.txt groups name: ``ragdag-crawler`` for ``ragdag-crawler/0.1 (+url)``."""
    match = _PRODUCT_TOKEN.match(user_agent.strip())
    if match is None:
        raise ValueError(f"user agent {user_agent!r} must start with a product like 'mybot/1.0'")
    return match.group(0).lower()


def _group_agent(value: str) -> str:
    # Sites write "Googlebot/2.1" where RFC 9309 wants "Googlebot"; "*" has no product token.
    match = _PRODUCT_TOKEN.match(value)
    return match.group(0).lower() if match else value


def robots_url(url: str) -> str:
    """The robots.txt URL that governs ``url``."""
    parts = urlsplit(url)
    return normalize_url(urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")))


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return quote_url_component(target, QUERY_SAFE)


@dataclass(frozen=True)
class RobotsRule:
    allow: bool
    pattern: str

    def matches(self, target: str) -> bool:
        return _compile(self.pattern).match(target) is not None


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    """``*`` matches any characters, a final ``$`` anchors the end; everything else is literal."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    return re.compile(regex + (r"\Z" if anchored else ""))


def _crawl_delay_s(value: str) -> float | None:
    """A ``Crawl-delay`` value in seconds; None when it is not a usable number."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True)
class RobotsPolicy:
    """The rules of one robots.txt that apply to one user agent, and its ``Crawl-delay``.

    ``Crawl-delay`` is not in RFC 9309, but many sites set it and expect it honoured: the seconds
    between two requests (of ours) to the host; when several groups name us, the largest applies.
    """

    rules: tuple[RobotsRule, ...] = ()
    crawl_delay_s: float | None = None

    @classmethod
    def allow_all(cls) -> RobotsPolicy:
        return cls(())

    @classmethod
    def parse(cls, text: str, user_agent: str) -> RobotsPolicy:
        """Rules of the groups naming our product token, else of the ``*`` groups (merged)."""
        groups: list[tuple[set[str], list[RobotsRule], list[float]]] = []
        in_agent_lines = False
        for raw_line in text.splitlines():
            key, sep, value = raw_line.partition("#")[0].partition(":")
            if not sep:
                continue
            key, value = key.strip().lower(), value.strip()
            if key == "user-agent":
                if not in_agent_lines:
                    groups.append((set(), [], []))
                groups[-1][0].add(_group_agent(value))
                in_agent_lines = True
            elif key in ("allow", "disallow"):
                in_agent_lines = False
                # Rules before any user-agent line belong to no group; an empty rule says nothing.
                if groups and value:
                    pattern = quote_url_component(value, QUERY_SAFE)
                    groups[-1][1].append(RobotsRule(allow=key == "allow", pattern=pattern))
            elif key == "crawl-delay":
                in_agent_lines = False
                delay = _crawl_delay_s(value)
                if groups and delay is not None:
                    groups[-1][2].append(delay)
        token = product_token(user_agent)
        for agent in (token, "*"):
            chosen = [(rules, delays) for agents, rules, delays in groups if agent in agents]
            if chosen:
                delays = [delay for _, each in chosen for delay in each]
                return cls(
                    tuple(rule for rules, _ in chosen for rule in rules),
                    crawl_delay_s=max(delays) if delays else None,
                )
        return cls.allow_all()

    def allows(self, url: str) -> bool:
        """The longest matching rule decides; on a tie, allow wins (RFC 9309 §2.2.2)."""
        target = _path_and_query(url)
        if target == "/robots.txt":
            return True
        matching = [rule for rule in self.rules if rule.matches(target)]
        if not matching:
            return True
        return max(matching, key=lambda rule: (len(rule.pattern), rule.allow)).allow


class RobotsCache:
    """Thread-safe robots.txt policies per origin, loaded on first use and kept ``ttl_s``.

    One cache serves one user agent: the loader parses for the caller's agent.
    """

    def __init__(self, *, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[RobotsPolicy, float]] = {}
        self._load_locks: dict[str, threading.Lock] = {}

    def _fresh(self, key: str) -> RobotsPolicy | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        return None

    def policy_for(self, url: str, load: Callable[[str], RobotsPolicy]) -> RobotsPolicy:
        """The policy governing ``url``; ``load(robots_url)`` runs on a miss and may raise.

        A raising loader caches nothing, so the next call tries again. Only one thread loads a
        given origin at a time, so a pool of workers starting on one host fetches robots.txt once.
        """
        key = robots_url(url)
        policy = self._fresh(key)
        if policy is not None:
            return policy
        with self._lock:
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            policy = self._fresh(key)
            if policy is None:
                policy = load(key)
                with self._lock:
                    self._entries[key] = (policy, self._clock() + self.ttl_s)
        return policy
