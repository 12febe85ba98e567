"""Score links opened, shared through the store: two web processes see one scanner's burst.

Both trackers below stand for two replicas' web processes on one database; the window's edge
is tested on both sides (a link opened exactly `window` ago counts, a millisecond older not).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from closedloop.daemon.store import Store
from closedloop.daemon.store.link_opens import LINK_OPENS
from closedloop.daemon.web.scanner import SharedOpenTracker

WINDOW = timedelta(seconds=30)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_burst_spread_over_two_processes_is_one_burst(store: Store, t0: datetime) -> None:
    """Process A serves link 0 of a survey, process B link 7 a second later: each sees the
    burst; the same score opened again, or another survey's link, is no burst."""
    clock = Clock(t0)
    a, b = SharedOpenTracker(store, WINDOW, clock=clock), SharedOpenTracker(store, WINDOW,
                                                                            clock=clock)
    a.opened(1, 0)
    assert (a.is_burst(1, 0), b.is_burst(1, 0)) == (False, False)
    clock.now += timedelta(seconds=1)
    b.opened(1, 7)
    b.opened(2, 5)
    assert (a.is_burst(1, 0), b.is_burst(1, 7), a.is_burst(2, 5)) == (True, True, False)


def test_the_window_edge_both_sides(store: Store, t0: datetime) -> None:
    """Another score opened exactly WINDOW ago is a burst; a millisecond more is not."""
    clock = Clock(t0)
    opens = SharedOpenTracker(store, WINDOW, clock=clock)
    opens.opened(1, 3)
    clock.now = t0 + WINDOW
    assert (opens.is_burst(1, 9), opens.is_burst(1, 3)) == (True, False)
    clock.now = t0 + WINDOW + timedelta(milliseconds=1)
    assert opens.is_burst(1, 9) is False


def test_a_surveys_old_openings_are_dropped_when_it_is_opened_again(
        store: Store, t0: datetime) -> None:
    """No row outlives the window by long: a new opening drops the survey's stale ones."""
    store.note_link_open(1, 3, t0, WINDOW)
    store.note_link_open(1, 4, t0 + WINDOW + timedelta(seconds=1), WINDOW)
    with store.engine.connect() as conn:
        kept = conn.execute(select(LINK_OPENS.c.score)).scalars().all()
        total = conn.scalar(select(func.count()).select_from(LINK_OPENS))
    assert (kept, total) == ([4], 1)
