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
    Zendesk sends as Retry-After). `spend(n)` fills slots as another integration of the
    same account would. Every refusal is counted as avoidable or not:

    - avoidable: the client's own requests in the window had reached the limit alone, or
      an earlier answer had already told it this window was spent (Remaining 0 or a 429)
      and no request has left the window since: pacing on what it knew would have waited;
    - unavoidable: other integrations' requests spent what the client was last told was
      left.
    """

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic, *, tells: bool = True) -> None:
        """`tells`: answers carry the remaining count (HubSpot's search ones do not)."""
        self.limit = limit
        self.window = window
        self.tells = tells
        self._clock = clock
        self._stamps: deque[tuple[float, bool]] = deque()  # (when, another integration's)
        self._lock = threading.Lock()
        self._told_spent = False  # an answer said Remaining 0 and nothing has left since
        self.avoidable = 0
        self.unavoidable = 0

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        while self._stamps and self._stamps[0][0] <= cutoff:
            self._stamps.popleft()
            self._told_spent = False

    def acquire(self) -> Slot:
        if self.limit <= 0:
            return Slot(True, 0, 0)
        with self._lock:
            now = self._clock()
            self._prune(now)
            if len(self._stamps) >= self.limit:
                own = sum(1 for _, outside in self._stamps if not outside)
                if own >= self.limit or self._told_spent:
                    self.avoidable += 1
                else:
                    self.unavoidable += 1
                self._told_spent = True
                wait = self._stamps[0][0] + self.window - now
                return Slot(False, 0, max(1, math.ceil(wait)))
            self._stamps.append((now, False))
            left = self.limit - len(self._stamps)
            if left == 0 and self.tells:
                self._told_spent = True
            return Slot(True, left, 0)

    def spend(self, n: int) -> int:
        """Take up to `n` free slots now for another integration; how many it took."""
        if self.limit <= 0:
            return 0
        with self._lock:
            now = self._clock()
            self._prune(now)
            took = max(0, min(n, self.limit - len(self._stamps)))
            self._stamps.extend((now, True) for _ in range(took))
            return took

    def remaining(self) -> int:
        """What is left in the window now, without taking a slot."""
        if self.limit <= 0:
            return 0
        with self._lock:
            self._prune(self._clock())
            return self.limit - len(self._stamps)

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return {"avoidable": self.avoidable, "unavoidable": self.unavoidable}

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()
            self._told_spent = False
            self.avoidable = self.unavoidable = 0


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
