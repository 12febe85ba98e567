"""Rate limits of the widget API: a token bucket per key (site + visitor address, or site)
that forgets idle keys, so a stream of new addresses cannot grow memory without bound.

Behind a reverse proxy on 127.0.0.1, uvicorn takes the visitor's address from
X-Forwarded-For (its `forwarded_allow_ips` default), so one proxy is not one visitor.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

PRUNE_EVERY = 1024  # takes between two sweeps of idle keys


class Buckets:
    """`rate` requests a second per key on average, bursts of `burst`; thread-safe. A key
    idle long enough to be full again is dropped (it would start full anyway)."""

    def __init__(self, rate: float, burst: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, stamp)
        self._lock = threading.Lock()
        self._takes = 0

    def take(self, key: str) -> float:
        """0.0 when a request of `key` may go now; else the seconds until one may."""
        with self._lock:
            now = self.clock()
            self._takes += 1
            if self._takes % PRUNE_EVERY == 0:
                self._prune(now)
            tokens, stamp = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._state)

    def _prune(self, now: float) -> None:
        refill = self.burst / self.rate
        self._state = {k: v for k, v in self._state.items() if now - v[1] < refill}

    @staticmethod
    def retry_after(wait: float) -> str:
        """Retry-After in whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))
