"""Sliding-window rate limits and the failure-injection plan, for both sandboxes.

HubSpot's 10-second and per-second search policies and Zendesk's per-minute buckets are
the same window with other sizes; each server turns a refusal into its vendor's 429.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """The outcome of one acquisition: allowed or not, what is left, when to come back."""

    allowed: bool
    remaining: int
    retry_after: int


class SlidingWindow:
    """At most `limit` acquisitions in any `window` seconds; limit 0 means unlimited.

    A refusal says how many whole seconds until the oldest call leaves the window (what
    Zendesk sends as Retry-After).
    """

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> Slot:
        if self.limit <= 0:
            return Slot(True, 0, 0)
        with self._lock:
            now = self._clock()
            cutoff = now - self.window
            while self._stamps and self._stamps[0] <= cutoff:
                self._stamps.popleft()
            if len(self._stamps) >= self.limit:
                wait = self._stamps[0] + self.window - now
                return Slot(False, 0, max(1, math.ceil(wait)))
            self._stamps.append(now)
            return Slot(True, self.limit - len(self._stamps), 0)

    def remaining(self) -> int:
        """What is left in the window now, without taking a slot."""
        if self.limit <= 0:
            return 0
        with self._lock:
            cutoff = self._clock() - self.window
            return self.limit - sum(1 for s in self._stamps if s > cutoff)

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
    """Queued injected failures, consumed in order by the calls whose path matches
    (a None prefix matches every path)."""

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
