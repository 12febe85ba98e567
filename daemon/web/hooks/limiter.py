"""A token bucket per source for the inbound endpoints: a flood (a runaway trigger, a
replay storm) gets 429 with Retry-After instead of filling the queue table."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` requests a second on average, bursts of `burst`; thread-safe."""

    rate: float = 20.0
    burst: float = 200.0
    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, float] = field(default_factory=dict)
    _stamp: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """0.0 when a request of `key` may go; else the seconds until one may."""
        with self._lock:
            now = self.clock()
            tokens = min(self.burst, self._tokens.get(key, self.burst)
                         + (now - self._stamp.get(key, now)) * self.rate)
            self._stamp[key] = now
            if tokens >= 1.0:
                self._tokens[key] = tokens - 1.0
                return 0.0
            self._tokens[key] = tokens
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """Retry-After in whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))
