"""Politeness: a minimum delay between two requests to the same host, shared by all threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Hosts whose slot is long past are forgotten once the table grows beyond this, so a crawl of
# many hosts does not keep one entry per host forever.
_PRUNE_ABOVE = 1024


class HostRateLimiter:
    """Spaces the starts of requests to one host by at least ``min_delay_s``.

    Each caller reserves the next free slot of its host under a lock and then sleeps outside
    it, so threads fetching different hosts never wait on each other, and threads fetching the
    same host are served in the order they asked.
    """

    def __init__(
        self,
        min_delay_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if min_delay_s < 0:
            raise ValueError(f"min_delay_s must be >= 0, got {min_delay_s}")
        self.min_delay_s = min_delay_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}

    def wait(self, host: str) -> float:
        """Block until a request to ``host`` may start; return the seconds waited."""
        key = host.lower()
        with self._lock:
            now = self._clock()
            start = max(now, self._next_slot.get(key, now))
            self._next_slot[key] = start + self.min_delay_s
            if len(self._next_slot) > _PRUNE_ABOVE:
                self._next_slot = {h: t for h, t in self._next_slot.items() if t > now}
        waited = start - now
        if waited > 0:
            self._sleep(waited)
        return waited
