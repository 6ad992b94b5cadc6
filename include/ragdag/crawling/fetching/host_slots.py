"""Per-host request turns shared by every crawl task, through MongoDB.

Grouping links by host gives each host to one mapped task, but a task also reaches other hosts: a
feed's or sitemap's articles that live elsewhere, a redirect to another host. With each host's
turn kept in one MongoDB document (``crawl_host_slots``: ``_id`` the host; ``holder`` the task in
the middle of a request, until ``held_until`` at the latest; ``answered_at`` when the last request
got its answer, seconds since the epoch; ``turn`` a counter), every task spaces its requests to a
host against all the others: a task waits until nobody holds the host and a delay has passed since
the last answer, takes the turn, sends, and gives the turn back on the answer. The next request,
from whichever task, therefore reaches the server at least a delay after the previous answer.

A turn is taken by compare-and-set on ``turn`` (plain numbers throughout: the embedded server's
dates do not compare). A task that dies holding a turn blocks the host only until ``held_until``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from pymongo.errors import DuplicateKeyError

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

HOST_SLOTS = "crawl_host_slots"
# How often a task waiting for a host's turn while a request is in flight looks again.
_POLL_S = 0.02


class SharedHostSlots:
    """Turns per host in MongoDB (see ``HostRateLimiter(shared=…)``); ``lease_s`` bounds how long
    one request may hold a host before others go on without its answer."""

    def __init__(
        self,
        db: Database,
        *,
        lease_s: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._slots: Collection = db[HOST_SLOTS]
        self.lease_s = lease_s
        self._clock = clock
        self._sleep = sleep

    def take(self, host: str, delay_s: float) -> tuple[str, float]:
        """Wait until ``host`` is free and ``delay_s`` past its last answer, then take its turn;
        the holder token (for ``give_back``) and the seconds waited."""
        token = uuid.uuid4().hex
        started = self._clock()
        while True:
            now = self._clock()
            current = self._slots.find_one({"_id": host})
            if current is None:
                first = {"_id": host, "turn": 1, "holder": token, "held_until": now + self.lease_s, "answered_at": 0.0}
                try:
                    self._slots.insert_one(first)
                except DuplicateKeyError:
                    continue  # another task took the first turn just now
                return token, now - started
            if current.get("holder") and float(current["held_until"]) > now:
                self._sleep(min(float(current["held_until"]) - now, _POLL_S))  # in flight: look again soon
                continue
            ready_at = float(current["answered_at"]) + delay_s
            if now < ready_at:
                self._sleep(ready_at - now)  # then look again: another task may be quicker
                continue
            taken = self._slots.update_one(
                {"_id": host, "turn": current["turn"]},
                {"$set": {"turn": int(current["turn"]) + 1, "holder": token, "held_until": now + self.lease_s}},
            )
            if taken.modified_count:
                return token, now - started

    def give_back(self, host: str, token: str) -> None:
        """The request got its answer (or failed): the host is free, its delay counts from now.
        Nothing happens when the lease ran out and another task holds the host meanwhile."""
        current = self._slots.find_one({"_id": host, "holder": token})
        if current is None:
            return
        self._slots.update_one(
            {"_id": host, "turn": current["turn"]},
            {"$set": {"turn": int(current["turn"]) + 1, "holder": None, "answered_at": self._clock()}},
        )
