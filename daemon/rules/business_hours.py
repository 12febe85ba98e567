"""Deadlines counted in business hours: "8 business hours after the answer".

A follow-up's due date is an SLA, and an SLA runs only while the team works: opening hours
on working days, in one time zone, minus holidays. Pure: the caller passes the start
instant, the SLA and the calendar. Business time is real elapsed time inside each day's
window, so a window that spans a DST change is as long as the clocks say (09:00-17:00 is
always 8 h unless the change happens inside it, as it can in zones that switch at noon).
Wall times map to instants like quiet hours do: a window edge in a DST gap maps to the
instant the clocks jump, one in an overlap to its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from closedloop.daemon.rules.timing import instant_of

_MAX_DAYS = 3660  # ten years of calendar days: a bound on the walk, not a guess


@dataclass(frozen=True)
class BusinessHours:
    """When the team works: `days` (0 = Monday), [opens, closes) local time, no holidays."""

    days: frozenset[int] = frozenset(range(5))
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError("business hours must open before they close on the same day")
        if not self.days:
            raise ValueError("business hours need at least one working day")


def _instant(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (the quiet-hours rule's DST handling)."""
    return instant_of(datetime.combine(day, moment), zone)


def _window(day: date, hours: BusinessHours, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    if day.weekday() not in hours.days or day in hours.holidays:
        return None
    return _instant(day, hours.opens, zone), _instant(day, hours.closes, zone)


def business_deadline(start: datetime, sla: timedelta, hours: BusinessHours,
                      zone: ZoneInfo) -> datetime:
    """The instant `sla` of business time after `start` (UTC, aware).

    Time before opening, after closing, on off days and holidays does not count. A deadline
    that uses up a day's window exactly ends at its close, not at the next opening; an SLA
    of zero gives the first business instant at or after `start`.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if sla < timedelta(0):
        raise ValueError("the SLA must not be negative")
    moment = start.astimezone(UTC)
    left = sla
    day = moment.astimezone(zone).date()
    for _ in range(_MAX_DAYS):
        window = _window(day, hours, zone)
        day += timedelta(days=1)
        if window is None:
            continue
        opens, closes = window
        begin = max(moment, opens)
        if begin >= closes:
            continue
        if begin + left <= closes:
            return begin + left
        left -= closes - begin
    raise ValueError("no business day within ten years: check days and holidays")
