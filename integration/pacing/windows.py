"""The maths of client-side pacing: what one rate window allows now, on a given clock.

Pure and single-threaded (the `Pacer` holds the lock), so tests drive it with a fake clock.

A rolling window (HubSpot's 10 seconds, its search's 1 second, Zendesk's minute) allows
`limit` requests in any `interval`. The CRM stamps a request somewhere between the moment
we send it and the moment its answer arrives, so our own request is counted as in the
window from its send until `interval` after its answer (in flight: until it is answered).
Two bounds hold, and a request goes out only when both leave room:

- our share: at most floor(share x limit) of our own requests in the window (at least 1),
  the rest of the quota left to other integrations;
- the CRM's word: the last answer's `remaining` (at `seen`), less our requests in the window
  now, plus ours it had surely counted then and that are surely still in its window (sent
  after `seen - interval`, answered by `seen`). Others may spend more after that answer:
  that 429 is not ours to avoid. After `interval` every request counted then has left, so
  the observation expires. A 429 is an answer with remaining 0; one with a Retry-After
  closes the window until then instead (the CRM said when there is room again).

`DayBudget` is HubSpot's daily limit: not rolling (it resets at the account's midnight,
which we do not know), so it keeps `limit - floor(share x limit)` of the day's remaining
requests for other integrations, and once there, lets one probe through every
`probe_every` seconds to see whether the day has turned.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


def allowed(limit: int, share: float) -> int:
    """Our part of `limit`: floor(share x limit), at least 1 (0 when the limit is 0)."""
    if limit <= 0:
        return 0
    return max(1, math.floor(share * limit + 1e-9))


@dataclass(eq=False)
class Sent:
    """One request through the pacer: when it left, when its answer came (None: in flight)."""

    sent: float
    answered: float | None = None


@dataclass
class Observation:
    """What one answer said about one window (None: the header was absent)."""

    remaining: int | None = None
    limit: int | None = None
    interval: float | None = None
    retry_after: float | None = None


@dataclass
class Window:
    """One rolling window; `limit` 0 means unlimited (as the sandboxes use it)."""

    name: str
    limit: int
    interval: float
    share: float
    own: deque[Sent] = field(default_factory=deque)
    seen: float | None = None  # when the last answer with a `remaining` arrived
    remaining: int = 0  # what it said
    counted: int = 0  # our requests it had surely counted, still in its window then
    closed_until: float = 0.0  # a Retry-After

    def _prune(self, now: float) -> None:
        keep = [s for s in self.own if s.answered is None or s.answered + self.interval > now]
        if len(keep) != len(self.own):
            self.own = deque(keep)
        if self.seen is not None and self.seen + self.interval <= now:
            self.seen = None

    def room(self, now: float) -> int:
        """How many more requests may go out now (a large number when unlimited)."""
        if self.limit <= 0:
            return 1 << 30
        if now < self.closed_until:
            return 0
        self._prune(now)
        free = allowed(self.limit, self.share) - len(self.own)
        if self.seen is not None:
            free = min(free, self.remaining + self.counted - len(self.own))
        return free

    def next_change(self, now: float) -> float | None:
        """The earliest moment room may grow without a new answer (None: only an answer)."""
        if self.limit <= 0:
            return None
        if now < self.closed_until:
            return self.closed_until
        moments = [s.answered + self.interval for s in self.own if s.answered is not None]
        if self.seen is not None:
            moments.append(self.seen + self.interval)
        later = [m for m in moments if m > now]
        return min(later) if later else None

    def add(self, sent: Sent) -> None:
        if self.limit > 0:
            self.own.append(sent)

    def observe(self, now: float, seen: Observation) -> None:
        """Correct the window from an answer's headers (limit and interval both ways)."""
        if seen.limit is not None and seen.limit > 0:
            self.limit = seen.limit
        if seen.interval is not None and seen.interval > 0:
            self.interval = seen.interval
        if seen.retry_after is not None and seen.retry_after > 0:
            # The CRM said when there is room again: that, not a whole interval.
            self.closed_until = max(self.closed_until, now + seen.retry_after)
            self.seen = None
            return
        if seen.remaining is None or self.limit <= 0:
            return
        self._prune(now)
        self.seen = now
        self.remaining = max(0, seen.remaining)
        self.counted = sum(1 for s in self.own if s.answered is not None
                           and s.answered <= now and s.sent > now - self.interval)


@dataclass
class DayBudget:
    """HubSpot's daily limit: keep the others' reserve of the day's remaining requests."""

    limit: int
    share: float
    probe_every: float = 900.0
    seen: float | None = None
    remaining: int = 0
    since: int = 0  # our requests sent since that answer (not in its count)
    in_flight: int = 0

    def reserve(self) -> int:
        return self.limit - allowed(self.limit, self.share) if self.limit > 0 else 0

    def room(self, now: float) -> int:
        if self.limit <= 0 or self.seen is None:
            return 1 << 30
        free = self.remaining - self.since - self.reserve()
        if free <= 0 and now >= self.seen + self.probe_every:
            return 1  # one probe: has the day turned?
        return free

    def next_change(self, now: float) -> float | None:
        if self.seen is None:
            return None
        probe = self.seen + self.probe_every
        return probe if probe > now else None

    def add(self, now: float) -> None:
        if self.seen is not None and self.remaining - self.since - self.reserve() <= 0:
            self.seen = now  # this is the probe: the next one waits probe_every again
        self.since += 1
        self.in_flight += 1

    def done(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def observe(self, now: float, seen: Observation) -> None:
        """An answer's Daily/Daily-Remaining (or a DAILY 429: remaining 0)."""
        if seen.limit is not None and seen.limit > 0:
            self.limit = seen.limit
        if seen.remaining is None:
            return
        self.seen = now
        self.remaining = max(0, seen.remaining)
        self.since = self.in_flight  # requests still out were maybe not counted yet
