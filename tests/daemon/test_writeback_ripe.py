"""`writeback_ripe` (jobs/windows.py): which write-back rows go now, on both sides of each
edge. Ticket hooks cost calls of their own, so only their window or a full batch of hooks
sends them; a full batch of contact rows (sent dates at volume) goes without them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from closedloop.daemon.jobs.windows import CoalescingSettings, writeback_ripe
from closedloop.daemon.store import Store
from closedloop.daemon.store.sends import WRITEBACKS

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
WINDOWS = CoalescingSettings()  # the defaults: answers 45 s, writeback 60 min


def _rows(store: Store, kind: str, n: int, at: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(WRITEBACKS), [
            {"source": "hubspot", "contact_id": f"{kind}{i}", "send_id": None, "kind": kind,
             "data": {}, "created_at": at, "status": "pending", "attempts": 0,
             "next_attempt_at": at} for i in range(n)])


def test_a_full_batch_of_sent_dates_goes_without_the_hooks(store: Store) -> None:
    """99 sent-date rows and a fresh hook: nothing goes; the 100th sent date: the contacts'
    rows go and the hook stays (before, the hook went along, two calls more each time)."""
    _rows(store, "sent", 99, T0)
    _rows(store, "hook", 1, T0)
    assert writeback_ripe(store, "hubspot", T0, WINDOWS) is None
    _rows(store, "sent", 1, T0)
    assert writeback_ripe(store, "hubspot", T0, WINDOWS) == ("hook",)


def test_hooks_go_at_their_window_or_as_a_full_batch(store: Store) -> None:
    """A hook goes its window (60 min) after it is due and not a microsecond before; 100
    hooks at once."""
    _rows(store, "hook", 1, T0)
    assert writeback_ripe(store, "hubspot", T0 + WINDOWS.writeback - US, WINDOWS) is None
    assert writeback_ripe(store, "hubspot", T0 + WINDOWS.writeback, WINDOWS) == ()
    _rows(store, "hook", 98, T0 + timedelta(minutes=1))
    assert writeback_ripe(store, "hubspot", T0 + timedelta(minutes=1), WINDOWS) is None
    _rows(store, "hook", 1, T0 + timedelta(minutes=1))
    assert writeback_ripe(store, "hubspot", T0 + timedelta(minutes=1), WINDOWS) == ()


def test_an_answer_goes_at_its_window_and_the_hooks_stay(store: Store) -> None:
    """An answer at 45 s (not 1 µs before) sends the contacts' rows only."""
    _rows(store, "answer", 1, T0)
    _rows(store, "hook", 1, T0)
    assert writeback_ripe(store, "hubspot", T0 + WINDOWS.answers - US, WINDOWS) is None
    assert writeback_ripe(store, "hubspot", T0 + WINDOWS.answers, WINDOWS) == ("hook",)


def test_a_sent_date_goes_at_the_writeback_window(store: Store) -> None:
    """A sent date alone goes at the writeback window (not 1 µs before), a younger hook
    staying."""
    _rows(store, "sent", 1, T0)
    _rows(store, "hook", 1, T0 + timedelta(minutes=1))
    assert writeback_ripe(store, "hubspot", T0 + WINDOWS.writeback - US, WINDOWS) is None
    assert writeback_ripe(store, "hubspot", T0 + WINDOWS.writeback, WINDOWS) == ("hook",)
