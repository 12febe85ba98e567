"""When dispatch records the relay's 250s (jobs/sent_marks.py), on both sides of each edge.

A real store (SQLite and PostgreSQL); the clock is an input (a list of readings), so the
time edge is tested exactly: a group rides on the next begin_sending once SETTLE_EVERY marks
wait or the oldest has waited SETTLE_WITHIN, not a mark or an instant before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.jobs.sent_marks import SETTLE_EVERY, PendingMarks
from closedloop.daemon.store import NewSend, Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


class Clock:
    """Monotonic seconds the test sets."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _handed_over(store: Store, n: int) -> list[int]:
    store.add_sends([NewSend(idem_key=f"k{i}", program="csat", survey_type="csat",
                             source="hubspot", contact_id=f"c{i}", due_at=T0, created_at=T0,
                             ticket_id=f"t{i}", email=f"p{i}@example.com") for i in range(n)])
    rows = store.claim_due_sends(T0, n, LEASE)
    for row in rows:
        assert store.begin_sending(row.id, T0)
        assert store.end_of_data(row.id, 1, T0)
    return [row.id for row in rows]


def _statuses(store: Store, ids: list[int]) -> list[str]:
    return [s.status for s in map(store.get_send, ids) if s is not None]


def _marks(store: Store, clock: Callable[[], float]) -> PendingMarks:
    return PendingMarks(store, every=3, within=1.0, clock=clock)


def test_a_group_is_due_at_every_marks_not_one_before(store: Store) -> None:
    clock = Clock()
    marks = _marks(store, clock)
    ids = _handed_over(store, 3)
    for send_id in ids[:2]:
        marks.add(send_id, T0, f"<{send_id}@x>", ())
    assert (marks.due(), len(marks)) == ([], 2)  # two of three: not yet
    marks.add(ids[2], T0, "<3@x>", ())
    assert [m.send_id for m in marks.due()] == ids
    assert _statuses(store, ids) == ["awaiting_reply"] * 3  # due() alone records nothing


def test_a_group_is_due_once_its_oldest_waited_within_not_an_instant_before(
        store: Store) -> None:
    clock = Clock()
    marks = _marks(store, clock)
    first, second = _handed_over(store, 2)
    marks.add(first, T0, "<1@x>", ())
    clock.now += 0.5
    marks.add(second, T0, "<2@x>", ())  # a later mark does not restart the wait
    clock.now += 0.4999
    assert marks.due() == []
    clock.now += 0.0001
    assert [m.send_id for m in marks.due()] == [first, second]


def test_begin_sending_records_a_due_group_and_starts_the_next_wait(store: Store) -> None:
    clock = Clock()
    marks = _marks(store, clock)
    ids = _handed_over(store, 3)
    marks.add(ids[0], T0, "<1@x>", ())
    store.add_sends([NewSend(idem_key="next", program="csat", survey_type="csat",
                             source="hubspot", contact_id="cn", due_at=T0, created_at=T0,
                             ticket_id="tn", email="next@example.com")])
    [nxt] = store.claim_due_sends(T0, 1, LEASE)
    clock.now += 1.0
    assert marks.begin_sending(nxt.id, T0)
    assert (_statuses(store, ids[:1]), len(marks)) == (["sent"], 0)
    marks.add(ids[1], T0, "<2@x>", ())
    clock.now += 0.9  # the new group's wait starts at its own first mark
    assert marks.due() == []


def test_flush_records_every_mark_and_an_empty_flush_is_a_no_op(store: Store) -> None:
    marks = _marks(store, Clock())
    marks.flush()
    ids = _handed_over(store, 2)
    for send_id in ids:
        marks.add(send_id, T0, f"<{send_id}@x>", ())
    marks.flush()
    assert (_statuses(store, ids), len(marks)) == (["sent", "sent"], 0)


def test_a_slow_conversation_records_the_group_when_its_250_comes_in(store: Store) -> None:
    """A mark added once the oldest has waited `within` records the group at once (not
    after one more conversation); an instant earlier it waits."""
    clock = Clock()
    marks = PendingMarks(store, every=25, within=1.0, clock=clock)
    ids = _handed_over(store, 3)
    marks.add(ids[0], T0, "<1@x>", ())
    clock.now += 0.9999
    marks.add(ids[1], T0, "<2@x>", ())
    assert (len(marks), _statuses(store, ids[:2])) == (2, ["awaiting_reply"] * 2)
    clock.now += 0.0001
    marks.add(ids[2], T0, "<3@x>", ())
    assert (len(marks), _statuses(store, ids)) == (0, ["sent"] * 3)


def test_the_shipped_group_size_edge(store: Store) -> None:
    """SETTLE_EVERY as shipped: one mark fewer waits, that many are due."""
    marks = PendingMarks(store, clock=Clock())
    ids = _handed_over(store, SETTLE_EVERY)
    for send_id in ids[:-1]:
        marks.add(send_id, T0, f"<{send_id}@x>", ())
    assert marks.due() == []
    marks.add(ids[-1], T0, "<last@x>", ())
    assert len(marks.due()) == SETTLE_EVERY == 25


def test_a_refused_transaction_keeps_the_marks_for_the_next_try(store: Store) -> None:
    """The gate's transaction raises (here a mark the store refuses: a naive time): nothing
    of it commits, the gate's row is not begun, and every mark waits for the flush."""
    clock = Clock()
    marks = _marks(store, clock)
    first, second, third = _handed_over(store, 3)
    marks.add(first, T0, "<1@x>", ())
    marks.add(second, T0.replace(tzinfo=None), "<2@x>", ())
    marks.add(third, T0, "<3@x>", ())  # the group is full: it rides on the next gate
    store.add_sends([NewSend(idem_key="next", program="csat", survey_type="csat",
                             source="hubspot", contact_id="cn", due_at=T0, created_at=T0,
                             ticket_id="tn", email="next@example.com")])
    [nxt] = store.claim_due_sends(T0, 1, LEASE)
    with pytest.raises(ValueError, match="naive datetime"):
        marks.begin_sending(nxt.id, T0)
    assert (len(marks), _statuses(store, [first, second, third, nxt.id])) == (
        3, ["awaiting_reply"] * 3 + ["claimed"])
