"""Telling a mail scanner's visit from a person's click on a score link.

Security scanners (Safe Links and the like) open every link of a message, often within a
second or two of delivery, some in a headless browser that runs the landing page's script.
A person opens one score link (now and then a second one later, to change the score). So:

- the landing page posts the score from script only after `AUTO_POST_DELAY_MS`, and never in
  an automated browser (`navigator.webdriver`); the confirm button is always there;
- the app remembers which score links of each survey were opened (GET or HEAD) in the last
  `BURST_WINDOW`: when another score of the same survey was opened within it, the visits are
  a scanner's burst. A scripted POST then records nothing and the page shows the confirm
  button; a POST from the button itself (a person's tap, or no script) always records.

The delay lets a scanner that goes through the links in turn (waiting for each page to settle)
open the second link before the first page posts, so the burst is seen in time. A person's
single click still records in one step, after the delay.

The memory is per process on SQLite (one daemon); on PostgreSQL, where several replicas
serve the pages, it is the store's `link_opens` table (`SharedOpenTracker`), so a burst spread
over several web processes is still one burst.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection

from closedloop.daemon.store import Store
from closedloop.daemon.store.group_commit import Together
from closedloop.daemon.store.link_opens import (
    note_link_open_in,
    note_link_opens_in,
    other_link_opened_in,
)

AUTO_POST_DELAY_MS = 1500
BURST_WINDOW = timedelta(seconds=30)
MAX_SURVEYS = 100_000  # bounds the memory: the least recently opened surveys are forgotten
SCRIPT = "script"  # the `via` value the landing page's script posts; the button posts another


class LinkOpens(Protocol):
    """What the pages need to know about score links opened."""

    def opened(self, send_id: int, score: int) -> None: ...

    def is_burst(self, send_id: int, score: int) -> bool: ...


class OpenTracker:
    """Recent openings of score links, per survey (send id), to spot a scanner's burst.

    Per survey only each score's latest opening is kept: the burst question ("another score
    within the window?") depends on nothing else, and the memory per survey stays bounded by
    its scale however often one link is fetched (a link fetched again and again made every
    later page scan all its openings)."""

    def __init__(self, window: timedelta = BURST_WINDOW, *, max_surveys: int = MAX_SURVEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window.total_seconds()
        self.max_surveys = max_surveys
        self._clock = clock
        self._opens: OrderedDict[int, dict[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def opened(self, send_id: int, score: int) -> None:
        """Note that the link for `score` of this survey was fetched (GET or HEAD)."""
        self.opened_in_burst(send_id, score)

    def opened_in_burst(self, send_id: int, score: int) -> bool:
        """`opened`, then `is_burst`, under one lock and one look at the survey's openings."""
        now = self._clock()
        with self._lock:
            latest = self._opens.get(send_id)
            if latest is None:
                latest = self._opens[send_id] = {}
                while len(self._opens) > self.max_surveys:
                    self._opens.popitem(last=False)
            else:
                self._opens.move_to_end(send_id)
            burst = self._other_within(latest, score, now)
            latest[score] = now
            return burst

    def is_burst(self, send_id: int, score: int) -> bool:
        """True when a link for another score of this survey was opened within the window
        (its age at most `window`): several links at once are a scanner, not a person."""
        now = self._clock()
        with self._lock:
            latest = self._opens.get(send_id)
            return latest is not None and self._other_within(latest, score, now)

    def _other_within(self, latest: dict[int, float], score: int, now: float) -> bool:
        return any(other != score and now - at <= self.window for other, at in latest.items())


class SharedOpenTracker:
    """The same memory in the store, for replicas sharing one database (wall clock: replicas'
    clocks agree to well within the window)."""

    def __init__(self, store: Store, window: timedelta = BURST_WINDOW, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.window = window
        self._clock = clock

    def opened(self, send_id: int, score: int) -> None:
        self.store.note_link_open(send_id, score, self._clock(), self.window)

    def opening(self, send_id: int, score: int) -> tuple[int, int, datetime, timedelta]:
        """`opened` as an item for the pages' group commit (`LINK_OPENS_TOGETHER`)."""
        return (send_id, score, self._clock(), self.window)

    def is_burst_in(self, conn: Connection, send_id: int, score: int) -> bool:
        """`is_burst` on the caller's connection."""
        return other_link_opened_in(conn, send_id, score, self._clock(), self.window)

    def is_burst(self, send_id: int, score: int) -> bool:
        return self.store.other_link_opened(send_id, score, self._clock(), self.window)


# Openings of a batch are written set-wise, one by one if that fails.
LINK_OPENS_TOGETHER: Together[tuple[int, int, datetime, timedelta], None] = Together(
    many=note_link_opens_in, one=lambda conn, item: note_link_open_in(conn, *item))
