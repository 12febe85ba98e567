"""Adaptive polling (jobs/adaptive.py): the interval doubles on empty reads up to its
ceiling, snaps back to the base on a find, and a poll is due exactly at its stored time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.jobs.adaptive import next_interval, poll_due, read_pace, record_poll
from closedloop.daemon.store import Store

BASE, CEILING = timedelta(minutes=1), timedelta(minutes=15)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("current", "found", "expected"), [
    (BASE, False, 2 * BASE),
    (timedelta(minutes=7), False, timedelta(minutes=14)),
    (timedelta(minutes=8), False, CEILING),  # 16 min capped
    (CEILING, False, CEILING),
    (CEILING, True, BASE),
    (timedelta(seconds=10), False, BASE),  # never under the base
])
def test_next_interval(current: timedelta, found: bool, expected: timedelta) -> None:
    """Doubling, its cap, and the snap back."""
    assert next_interval(current, found, BASE, CEILING) == expected


def test_a_poll_is_due_at_its_time_not_a_second_before(store: Store) -> None:
    """After an empty poll the next is due at now + 2 min less a tenth of the base (the
    scheduler's slack); a find brings it back to the next tick."""
    assert poll_due(store, "hubspot", NOW, BASE)  # never polled: due at once
    pace = record_poll(store, "hubspot", NOW, False, BASE, CEILING)
    due = NOW + 2 * BASE - BASE / 10
    assert (pace.interval, pace.next_at) == (2 * BASE, due)
    assert (poll_due(store, "hubspot", due - timedelta(seconds=1), BASE),
            poll_due(store, "hubspot", due, BASE)) == (False, True)
    found = record_poll(store, "hubspot", due, True, BASE, CEILING)
    assert found.interval == BASE
    assert read_pace(store, "hubspot", BASE) == found


def test_an_unreadable_pace_polls_now(store: Store) -> None:
    """A damaged pace row is not an error: the poll runs and the pace starts over."""
    store.set_cursor("zendesk", "poll_pace", "not json", NOW)
    assert poll_due(store, "zendesk", NOW, BASE)
    assert read_pace(store, "zendesk", BASE).interval == BASE
