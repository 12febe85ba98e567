"""One pacer per CRM source, shared by every job thread of that source.

Each request asks `acquire(kind)` before it leaves and reports its answer with `done(...)`.
The pacer waits (on its clock) while a window has no room, rather than sending into a 429;
a wait longer than `max_wait` (a DAILY budget spent, a long Retry-After) raises `Throttled`
at once so the job leaves its work for a later run instead of holding a scheduler thread.
A 429 that still comes (another integration spent the quota after our last answer) closes
the window for every job of the source, as its answer says.

What windows a source has, which request kinds each counts, and how an answer's headers
read, is the vendor's (integration/hubspot/_pacing.py, integration/zendesk/_pacing.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from closedloop.integration.errors import RateLimited
from closedloop.integration.pacing.windows import DayBudget, Observation, Sent, Window


class Throttled(RateLimited):
    """The pacer would wait longer than it may: nothing was sent (not a 429)."""


@dataclass(frozen=True)
class Answer:
    """What a vendor reader made of one answer: per window name, what it said."""

    windows: Mapping[str, Observation] = field(default_factory=dict)
    day: Observation | None = None


Reader = Callable[[str, int, Mapping[str, str], bytes], Answer]
"""(request kind, HTTP status, headers, body on a 429 else b"") -> what it says."""


@dataclass
class PacingStats:
    """What the pacer did, for /metrics and the benchmark."""

    requests: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    throttled: int = 0  # Throttled raised: work left for later, nothing sent
    rate_limited: int = 0  # 429 answers: other integrations spent the quota (see README)


@dataclass
class Ticket:
    """One granted request, handed back to `done`."""

    kind: str
    sent: Sent
    windows: tuple[Window, ...]


class Pacer:
    """Thread-safe: windows by name, the kinds each counts, an optional day budget."""

    def __init__(self, source: str, windows: Sequence[Window],
                 kinds: Mapping[str, Sequence[str]], reader: Reader, *,
                 default_windows: Sequence[str] = (),
                 day: DayBudget | None = None, day_kinds: Sequence[str] = (),
                 max_wait: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None) -> None:
        """`kinds`: request kind -> the names of the windows it counts in (a kind not
        listed counts in `default_windows`); `day_kinds`: the kinds the day budget counts."""
        self.source = source
        self.windows = {w.name: w for w in windows}
        self._kinds = {k: tuple(self.windows[n] for n in names) for k, names in kinds.items()}
        self._default = tuple(self.windows[n] for n in default_windows)
        self._reader = reader
        self.day = day
        self._day_kinds = frozenset(day_kinds)
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self.stats = PacingStats()

    def _room(self, kind: str, now: float) -> tuple[bool, float | None]:
        """(room now, the next moment to look again; None: wait for an answer)."""
        blocking = [w for w in self._kinds.get(kind, self._default) if w.room(now) <= 0]
        day = self.day if self.day is not None and kind in self._day_kinds else None
        if day is not None and day.room(now) <= 0:
            return False, day.next_change(now)
        if not blocking:
            return True, None
        moments = [m for m in (w.next_change(now) for w in blocking) if m is not None]
        return False, min(moments, default=None)

    def acquire(self, kind: str) -> Ticket:
        """Wait for room in every window `kind` counts in; Throttled past `max_wait`."""
        start = self._clock()
        waited = False
        with self._cond:
            while True:
                now = self._clock()
                ok, then = self._room(kind, now)
                if ok:
                    break
                if (then if then is not None else now) - start > self.max_wait:
                    self.stats.throttled += 1
                    raise Throttled(f"{self.source}: the CRM's rate window has no room for "
                                    f"{(then or now) - now:.0f} s",
                                    retry_after=max((then or now) - now, 1.0))
                waited = True
                pause = 1.0 if then is None else max(then - now, 0.001)
                if self._sleep is not None:  # a fake clock: sleep it, outside the lock
                    self._cond.release()
                    try:
                        self._sleep(pause)
                    finally:
                        self._cond.acquire()
                else:
                    self._cond.wait(pause)
            sent = Sent(now)
            windows = self._kinds.get(kind, self._default)
            for window in windows:
                window.add(sent)
            if self.day is not None and kind in self._day_kinds:
                self.day.add(now)
            self.stats.requests += 1
            if waited:
                self.stats.waits += 1
                self.stats.waited_seconds += now - start
        return Ticket(kind, sent, windows)

    def done(self, ticket: Ticket, status: int | None, headers: Mapping[str, str] | None,
             body: bytes = b"") -> None:
        """The answer (status None: none came, e.g. a timeout) corrects the windows."""
        with self._cond:
            now = self._clock()
            ticket.sent.answered = now
            if self.day is not None and ticket.kind in self._day_kinds:
                self.day.done()
            if status is not None:
                if status == 429:
                    self.stats.rate_limited += 1
                answer = self._reader(ticket.kind, status, headers or {}, body)
                for name, seen in answer.windows.items():
                    if name in self.windows:
                        self.windows[name].observe(now, seen)
                if answer.day is not None and self.day is not None:
                    self.day.observe(now, answer.day)
            self._cond.notify_all()
