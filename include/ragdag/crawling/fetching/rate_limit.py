"""Politeness: a minimum delay between two requests to the same host, shared by all threads.

One limiter spaces the requests of one process (one mapped crawl task, or the threads of
``crawl_targets``). Across tasks, the plan gives each host to exactly one task
(``crawl_plan.group_by_host``), and a limiter given ``shared`` slots (``host_slots``, in MongoDB)
also spaces what tasks send to each other's hosts (a feed's articles elsewhere, redirects).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragdag.crawling.fetching.host_slots import SharedHostSlots

# Hosts whose last request is long past are forgotten once the table grows beyond this, so a
# crawl of many hosts does not keep one entry per host forever.
_PRUNE_ABOVE = 1024


class HostRateLimiter:
    """Spaces the starts of requests to one host by at least ``min_delay_s``, or by the larger
    delay the host asked for (robots.txt ``Crawl-delay``, see ``set_host_delay``).

    Each caller reserves the next free slot of its host under a lock and then sleeps outside
    it, so threads fetching different hosts never wait on each other, and threads fetching the
    same host are served in the order they asked. A caller that reports the answer (``answered``)
    moves its host's slot to then: the next request leaves a full delay after the last answer, so
    a slow connect or a busy machine can never squeeze two requests closer at the server.

    With ``shared`` turns (``host_slots.SharedHostSlots``) the slots live in MongoDB instead, so
    every process that uses them spaces its requests against the others: a request holds its
    host's turn from ``wait`` to ``answered``.
    """

    def __init__(
        self,
        min_delay_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: SharedHostSlots | None = None,
    ) -> None:
        if min_delay_s < 0:
            raise ValueError(f"min_delay_s must be >= 0, got {min_delay_s}")
        self.min_delay_s = min_delay_s
        self._clock = clock
        self._sleep = sleep
        self._shared = shared
        self._turns = threading.local()  # host -> token of the shared turn this thread holds
        self._lock = threading.Lock()
        self._last_start: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}

    def set_host_delay(self, host: str, delay_s: float | None) -> None:
        """Space requests to ``host`` by at least ``delay_s`` from now on (never below the
        limiter's own delay; the largest of several calls for one host stays)."""
        if delay_s is None or delay_s <= 0:
            return
        key = host.lower()
        with self._lock:
            self._host_delay[key] = max(self._host_delay.get(key, 0.0), delay_s)

    def delay_for(self, host: str) -> float:
        """The gap kept between two request starts to ``host``."""
        key = host.lower()
        with self._lock:
            return max(self.min_delay_s, self._host_delay.get(key, 0.0))

    def wait(self, host: str) -> float:
        """Block until a request to ``host`` may start; return the seconds waited.

        With ``shared`` turns, the request holds the host's turn until ``answered``: call it.
        """
        key = host.lower()
        if self._shared is not None:
            token, waited = self._shared.take(key, self.delay_for(key))
            self._held().setdefault(key, []).append(token)
            return waited
        with self._lock:
            now = self._clock()
            delay = max(self.min_delay_s, self._host_delay.get(key, 0.0))
            last = self._last_start.get(key)
            start = now if last is None else max(now, last + delay)
            self._last_start[key] = start
            if len(self._last_start) > _PRUNE_ABOVE:
                self._prune(now)
        waited = start - now
        if waited > 0:
            self._sleep(waited)
        return waited

    def _held(self) -> dict[str, list[str]]:
        if not hasattr(self._turns, "tokens"):
            self._turns.tokens = {}
        return self._turns.tokens

    def answered(self, host: str) -> None:
        """The request to ``host`` just got its answer (or failed): count the delay from now."""
        key = host.lower()
        if self._shared is not None:
            tokens = self._held().get(key)
            if tokens:
                self._shared.give_back(key, tokens.pop())
            return
        with self._lock:
            now = self._clock()
            self._last_start[key] = max(self._last_start.get(key, now), now)

    def _prune(self, now: float) -> None:
        # A host's Crawl-delay goes with its slot: the fetcher sets it again on its next request.
        idle = {
            host
            for host, last in self._last_start.items()
            if last + max(self.min_delay_s, self._host_delay.get(host, 0.0)) <= now
        }
        self._last_start = {h: t for h, t in self._last_start.items() if h not in idle}
        self._host_delay = {h: d for h, d in self._host_delay.items() if h not in idle}
