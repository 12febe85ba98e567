"""Business-hours deadlines: both sides of every edge (open, close, weekend, holiday, DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from closedloop.daemon.rules.business_hours import BusinessHours, business_deadline

OSLO = ZoneInfo("Europe/Oslo")
HOURS = BusinessHours(opens=time(9, 0), closes=time(17, 0),
                      holidays=frozenset({date(2026, 12, 25)}))


def oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)  # type: ignore[misc]


def due(start: datetime, sla: timedelta, zone: ZoneInfo = OSLO,
        hours: BusinessHours = HOURS) -> datetime:
    return business_deadline(start, sla, hours, zone).astimezone(zone)


def test_inside_the_window_the_sla_runs_on_the_clock() -> None:
    """Wed 10:00 + 2 h = Wed 12:00."""
    assert oslo(2026, 12, 2, 12, 0) == due(oslo(2026, 12, 2, 10, 0), timedelta(hours=2))


def test_deadline_that_fills_the_day_exactly_ends_at_close() -> None:
    """Wed 09:00 + 8 h ends Wed 17:00 (not Thu 09:00); one second more runs into Thursday."""
    assert oslo(2026, 12, 2, 17, 0) == due(oslo(2026, 12, 2, 9, 0), timedelta(hours=8))
    assert oslo(2026, 12, 3, 9, 0, 1) == due(oslo(2026, 12, 2, 9, 0),
                                             timedelta(hours=8, seconds=1))


def test_start_of_day_edge() -> None:
    """An answer a second before opening counts from opening; one at opening counts at once."""
    assert oslo(2026, 12, 2, 10, 0) == due(oslo(2026, 12, 2, 8, 59, 59), timedelta(hours=1))
    assert oslo(2026, 12, 2, 10, 0) == due(oslo(2026, 12, 2, 9, 0), timedelta(hours=1))
    assert oslo(2026, 12, 2, 10, 0, 1) == due(oslo(2026, 12, 2, 9, 0, 1), timedelta(hours=1))


def test_end_of_day_edge() -> None:
    """A second before close leaves one second today; at close nothing is left today."""
    assert oslo(2026, 12, 3, 9, 59, 59) == due(oslo(2026, 12, 2, 16, 59, 59),
                                               timedelta(hours=1))
    assert oslo(2026, 12, 3, 10, 0) == due(oslo(2026, 12, 2, 17, 0), timedelta(hours=1))


def test_weekend_edge() -> None:
    """Friday 16:00 + 2 h: one hour Friday, the weekend does not count, one hour Monday;
    an answer on Sunday 23:59 counts from Monday 09:00, one on Monday 00:00 too."""
    assert oslo(2026, 12, 7, 10, 0) == due(oslo(2026, 12, 4, 16, 0), timedelta(hours=2))
    assert oslo(2026, 12, 7, 10, 0) == due(oslo(2026, 12, 6, 23, 59), timedelta(hours=1))
    assert oslo(2026, 12, 7, 10, 0) == due(oslo(2026, 12, 7, 0, 0), timedelta(hours=1))
    assert oslo(2026, 12, 4, 16, 59) == due(oslo(2026, 12, 4, 15, 59), timedelta(hours=1))


def test_holiday_edge() -> None:
    """Thu 24 Dec 16:30 + 1 h skips Fri 25 Dec (holiday) and the weekend: Mon 28 Dec 09:30.
    The day before the holiday still counts."""
    assert oslo(2026, 12, 28, 9, 30) == due(oslo(2026, 12, 24, 16, 30), timedelta(hours=1))
    assert oslo(2026, 12, 24, 16, 0) == due(oslo(2026, 12, 24, 15, 0), timedelta(hours=1))
    assert oslo(2026, 12, 28, 10, 0) == due(oslo(2026, 12, 25, 10, 0), timedelta(hours=1))


def test_dst_spring_forward_keeps_business_hours_real() -> None:
    """Oslo jumps 02:00 -> 03:00 on Sun 29 Mar 2026: Friday 16:00 + 2 h is Monday 10:00
    local, and the elapsed business time in UTC is two hours either side of the change."""
    start = oslo(2026, 3, 27, 16, 0)
    end = due(start, timedelta(hours=2))
    assert oslo(2026, 3, 30, 10, 0) == end
    assert datetime(2026, 3, 30, 8, 0, tzinfo=UTC) == end.astimezone(UTC)


def test_dst_change_inside_the_window() -> None:
    """A window 00:00-06:00 on the spring-forward day holds only 5 real hours; on the
    fall-back day (Sun 25 Oct 2026) it holds 7."""
    night = BusinessHours(days=frozenset(range(7)), opens=time(0, 0), closes=time(6, 0))
    assert oslo(2026, 3, 30, 0, 1) == due(oslo(2026, 3, 29, 0, 0),
                                          timedelta(hours=5, minutes=1), hours=night)
    assert oslo(2026, 3, 29, 6, 0) == due(oslo(2026, 3, 29, 0, 0), timedelta(hours=5),
                                          hours=night)
    assert oslo(2026, 10, 25, 6, 0) == due(oslo(2026, 10, 25, 0, 0), timedelta(hours=7),
                                           hours=night)
    assert oslo(2026, 10, 26, 0, 1) == due(oslo(2026, 10, 25, 0, 0),
                                           timedelta(hours=7, minutes=1), hours=night)


def test_window_edge_in_a_dst_gap_maps_to_the_jump() -> None:
    """Opening at 02:30 on the spring-forward day (02:30 does not exist) opens at 03:00."""
    gap = BusinessHours(days=frozenset(range(7)), opens=time(2, 30), closes=time(12, 0))
    assert oslo(2026, 3, 29, 4, 0) == due(oslo(2026, 3, 29, 1, 0), timedelta(hours=1),
                                          hours=gap)


def test_zero_sla_is_the_next_business_instant() -> None:
    """SLA 0 inside hours is the start itself; outside, the next opening."""
    assert oslo(2026, 12, 2, 11, 0) == due(oslo(2026, 12, 2, 11, 0), timedelta(0))
    assert oslo(2026, 12, 3, 9, 0) == due(oslo(2026, 12, 2, 18, 0), timedelta(0))


def test_time_zone_decides_the_day() -> None:
    """The same instant is Friday evening in Oslo but Friday afternoon in New York."""
    start = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    ny = ZoneInfo("America/New_York")
    assert datetime(2026, 12, 4, 14, 0, tzinfo=ny) == due(start, timedelta(hours=1), zone=ny)
    assert oslo(2026, 12, 7, 10, 0) == due(start, timedelta(hours=1))


def test_bad_calendars_and_inputs_are_refused() -> None:
    """Close before open, no working day, a naive start and a negative SLA are errors."""
    with pytest.raises(ValueError, match="open before"):
        BusinessHours(opens=time(17, 0), closes=time(9, 0))
    with pytest.raises(ValueError, match="working day"):
        BusinessHours(days=frozenset())
    with pytest.raises(ValueError, match="aware"):
        business_deadline(datetime(2026, 1, 1), timedelta(hours=1), HOURS, OSLO)
    with pytest.raises(ValueError, match="negative"):
        business_deadline(oslo(2026, 1, 1), timedelta(hours=-1), HOURS, OSLO)
