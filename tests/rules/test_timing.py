"""Quiet hours and send days in the contact's zone: deferred to the next allowed local minute."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from closedloop.daemon.rules import Reason, local_zone, next_allowed
from closedloop.daemon.rules.timing import in_quiet_hours
from closedloop.daemon.surveys import Policy

UTC_ZONE = ZoneInfo("UTC")
OSLO = ZoneInfo("Europe/Oslo")
NIGHTS = Policy()  # 21:00-08:00, every day
WEEKDAYS = Policy(send_days=frozenset(range(5)))


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("instant", "expected"), [
    (at(2026, 11, 20, 20, 59), (at(2026, 11, 20, 20, 59), None)),  # a minute before: sends
    (at(2026, 11, 20, 21, 0), (at(2026, 11, 21, 8, 0), Reason.QUIET_HOURS)),  # start is quiet
    (at(2026, 11, 20, 23, 30), (at(2026, 11, 21, 8, 0), Reason.QUIET_HOURS)),  # before midnight
    (at(2026, 11, 21, 0, 0), (at(2026, 11, 21, 8, 0), Reason.QUIET_HOURS)),  # midnight
    (at(2026, 11, 21, 7, 59), (at(2026, 11, 21, 8, 0), Reason.QUIET_HOURS)),  # after midnight
    (at(2026, 11, 21, 8, 0), (at(2026, 11, 21, 8, 0), None)),  # end is not quiet
])
def test_quiet_hours_spanning_midnight(instant: datetime,
                                       expected: tuple[datetime, Reason | None]) -> None:
    """21:00-08:00 covers both sides of midnight and always ends at the next 08:00."""
    assert next_allowed(instant, UTC_ZONE, NIGHTS) == expected


def test_quiet_hours_within_one_day() -> None:
    """A window that does not span midnight (a lunch break) is quiet only inside it."""
    lunch = Policy(quiet_start=time(12, 0), quiet_end=time(13, 30))
    assert next_allowed(at(2026, 11, 20, 12, 10), UTC_ZONE, lunch) == (
        at(2026, 11, 20, 13, 30), Reason.QUIET_HOURS)
    assert next_allowed(at(2026, 11, 20, 23, 0), UTC_ZONE, lunch) == (at(2026, 11, 20, 23, 0), None)
    assert not in_quiet_hours(time(3, 0), None, None)


def test_in_the_contacts_own_zone() -> None:
    """06:30 UTC is 07:30 in Oslo (winter): quiet until 08:00 Oslo, which is 07:00 UTC."""
    assert next_allowed(at(2026, 11, 20, 6, 30), OSLO, NIGHTS) == (
        at(2026, 11, 20, 7, 0), Reason.QUIET_HOURS)
    assert next_allowed(at(2026, 11, 20, 7, 30), OSLO, NIGHTS) == (at(2026, 11, 20, 7, 30), None)
    tokyo = ZoneInfo("Asia/Tokyo")  # 13:00 UTC is 22:00 in Tokyo: wait for 08:00 there
    assert next_allowed(at(2026, 11, 20, 13, 0), tokyo, NIGHTS) == (
        at(2026, 11, 20, 23, 0), Reason.QUIET_HOURS)


def test_off_days_move_to_the_next_send_day_after_its_quiet_hours() -> None:
    """Friday 22:00 → Monday 08:00; Saturday noon → Monday 08:00, blamed on the send day."""
    friday_night = at(2026, 11, 20, 22, 0)  # 2026-11-20 is a Friday
    assert next_allowed(friday_night, UTC_ZONE, WEEKDAYS) == (
        at(2026, 11, 23, 8, 0), Reason.QUIET_HOURS)
    assert next_allowed(at(2026, 11, 21, 12, 0), UTC_ZONE, WEEKDAYS) == (
        at(2026, 11, 23, 8, 0), Reason.SEND_DAY)
    days_only = Policy(quiet_start=None, quiet_end=None, send_days=frozenset({2}))  # Wednesdays
    assert next_allowed(at(2026, 11, 20, 15, 0), UTC_ZONE, days_only) == (
        at(2026, 11, 25, 0, 0), Reason.SEND_DAY)


def test_quiet_end_in_a_dst_gap_is_the_moment_the_clocks_jump() -> None:
    """Oslo skips 02:00-03:00 on 2026-03-29: a 02:30 end means 03:00 CEST (01:00 UTC)."""
    late = Policy(quiet_start=time(22, 0), quiet_end=time(2, 30))
    assert next_allowed(at(2026, 3, 29, 0, 30), OSLO, late) == (
        at(2026, 3, 29, 1, 0), Reason.QUIET_HOURS)


def test_quiet_end_in_a_dst_overlap_is_its_first_occurrence() -> None:
    """Oslo lives 02:00-03:00 twice on 2026-10-25: a 02:30 end is 02:30 CEST (00:30 UTC)."""
    late = Policy(quiet_start=time(22, 0), quiet_end=time(2, 30))
    assert next_allowed(at(2026, 10, 24, 23, 0), OSLO, late) == (
        at(2026, 10, 25, 0, 30), Reason.QUIET_HOURS)


def test_default_quiet_hours_across_the_spring_change() -> None:
    """New York springs forward on 2026-03-08: 08:00 EDT that morning is 12:00 UTC, not 13:00."""
    new_york = ZoneInfo("America/New_York")
    assert next_allowed(at(2026, 3, 8, 5, 0), new_york, NIGHTS) == (
        at(2026, 3, 8, 12, 0), Reason.QUIET_HOURS)


def test_a_send_day_whose_midnight_does_not_exist() -> None:
    """Santiago jumps from 24:00 to 01:00 on 2026-09-06: Sunday starts at 01:00 (04:00 UTC)."""
    sundays = Policy(quiet_start=None, quiet_end=None, send_days=frozenset({6}))
    assert next_allowed(at(2026, 9, 5, 16, 0), ZoneInfo("America/Santiago"), sundays) == (
        at(2026, 9, 6, 4, 0), Reason.SEND_DAY)


def test_unknown_or_missing_zone_falls_back_to_the_default() -> None:
    assert local_zone("Mars/Olympus_Mons", "Europe/Oslo") == OSLO
    assert local_zone(None, "Europe/Oslo") == OSLO
    assert local_zone("Asia/Tokyo", "Europe/Oslo") == ZoneInfo("Asia/Tokyo")
    with pytest.raises(ValueError, match="unknown default time zone"):
        local_zone(None, "Nowhere/Land")


def test_no_wall_clock_is_read() -> None:
    """The answer depends on the instant given, not on when the code runs."""
    instant = at(2026, 11, 20, 23, 0)
    with time_machine.travel(at(2031, 6, 1, 12, 0), tick=False):
        assert next_allowed(instant, UTC_ZONE, NIGHTS) == (at(2026, 11, 21, 8, 0),
                                                             Reason.QUIET_HOURS)
