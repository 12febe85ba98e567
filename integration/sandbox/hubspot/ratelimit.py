"""Sliding-window limits (HubSpot's 10-second and search per-second policies) and the
failure-injection plan tests use to make the next calls fail on purpose."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class SlidingWindow:
    """At most `limit` acquisitions in any `window` seconds; limit 0 means unlimited."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> int | None:
        """Take a slot: the remaining count after it, or None when the window is full."""
        if self.limit <= 0:
            return -1
        with self._lock:
            now = self._clock()
            cutoff = now - self.window
            while self._stamps and self._stamps[0] <= cutoff:
                self._stamps.popleft()
            if len(self._stamps) >= self.limit:
                return None
            self._stamps.append(now)
            return self.limit - len(self._stamps)

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()


@dataclass
class Failure:
    status: int
    remaining: int
    path_prefix: str | None
    retry_after: float | None


class FailurePlan:
    """Queued injected failures, consumed in order by the calls whose path matches."""

    def __init__(self) -> None:
        self._queue: list[Failure] = []
        self._lock = threading.Lock()

    def add(self, n: int, status: int, path_prefix: str | None,
            retry_after: float | None) -> None:
        if n > 0:
            with self._lock:
                self._queue.append(Failure(status, n, path_prefix, retry_after))

    def take(self, path: str) -> Failure | None:
        """The failure this call must answer with, if any (decrements its count)."""
        with self._lock:
            for failure in self._queue:
                if failure.path_prefix is None or path.startswith(failure.path_prefix):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._queue.remove(failure)
                    return failure
            return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
