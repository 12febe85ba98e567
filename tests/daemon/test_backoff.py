"""The shared backoff curve: first wait, doubling, the ceiling on both sides, no overflow."""

from __future__ import annotations

from datetime import timedelta

from closedloop.daemon.backoff import doubling

FIRST, CAP = timedelta(seconds=30), timedelta(minutes=5)


def test_first_wait_then_doubling_then_the_ceiling() -> None:
    """0 and 1 failures wait `first`; each further one doubles; 240 s is under the 300 s
    ceiling and the next (480 s) is held at it."""
    assert [doubling(n, FIRST, CAP).total_seconds() for n in range(7)] == [
        30, 30, 60, 120, 240, 300, 300]


def test_a_ceiling_met_exactly_is_kept_and_a_huge_count_does_not_overflow() -> None:
    """A curve that lands exactly on its cap (30 s × 2³ = 240 s) stays there; a million
    failures give the cap, not an OverflowError."""
    assert doubling(4, FIRST, timedelta(seconds=240)) == timedelta(seconds=240)
    assert doubling(3, FIRST, timedelta(seconds=240)) == timedelta(seconds=120)
    assert doubling(1_000_000, FIRST, CAP) == CAP
