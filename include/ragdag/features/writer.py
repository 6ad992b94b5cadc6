"""A single background thread for store writes, so writing overlaps with embedding."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class BackgroundWriter:
    """Runs store writes, in order, on one thread while the main thread embeds the next group.

    Writing (Qdrant upserts: network round trips, or local mode's per-point SQLite commits) then
    overlaps with the model instead of adding to it. At most one group waits, so memory stays
    bounded. Qdrant's local client is not thread-safe: every use of it holds ``lock``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="feature-store-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is None:  # after a failure, drain without writing
                try:
                    with self.lock:
                        job()
                except BaseException as error:  # re-raised on the main thread
                    self._error = error

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, job: Callable[[], None]) -> None:
        self._raise_failure()
        self._jobs.put(job)

    def close(self) -> None:
        """Wait for every submitted write; raise the first failure."""
        self._jobs.put(None)
        self._thread.join()
        self._raise_failure()
