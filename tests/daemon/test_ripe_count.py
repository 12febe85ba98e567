"""`ripe_count` (jobs/windows.py): how much of a backlog goes now, on both sides of each
edge: nothing before the window or a full batch, whole batches only while the window runs,
everything once the oldest item waited it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.jobs.windows import FULL, INTAKE_FULL, ripe_count
from closedloop.daemon.store.backlogs import Backlog

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
US = timedelta(microseconds=1)


@pytest.mark.parametrize(("rows", "age", "expected"), [
    (0, WINDOW, 0),                     # nothing waits
    (FULL - 1, WINDOW - US, 0),         # neither a full batch nor the window
    (FULL - 1, WINDOW, None),           # the window: all of it
    (FULL, WINDOW - US, FULL),          # a full batch, alone
    (2 * FULL - 1, timedelta(0), FULL),  # the rest waits for company
    (2 * FULL, timedelta(0), 2 * FULL),
    (2 * FULL - 1, WINDOW, None),       # the window: the part-filled rest goes too
])
def test_ripe_count(rows: int, age: timedelta, expected: int | None) -> None:
    oldest = T0 - age if rows else None
    assert ripe_count(Backlog(rows, oldest), T0, WINDOW) == expected


def test_a_shut_window_takes_everything_at_once() -> None:
    assert ripe_count(Backlog(1, T0), T0, timedelta(0)) is None


@pytest.mark.parametrize(("rows", "expected"), [
    (INTAKE_FULL - 1, 0), (INTAKE_FULL, INTAKE_FULL), (2 * INTAKE_FULL - 1, INTAKE_FULL)])
def test_the_intake_counts_in_claim_rounds(rows: int, expected: int) -> None:
    """The intake's full batch is a claim round (its associations are one read)."""
    assert ripe_count(Backlog(rows, T0), T0, WINDOW, INTAKE_FULL) == expected
