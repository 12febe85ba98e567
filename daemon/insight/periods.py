"""Reporting periods (day, ISO week from Monday, month, quarter) cut in the reporting zone.

A UTC instant becomes a local day once (`local_day`); every period is a run of local days,
so DST changes never move an answer across a boundary by an hour.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month", "quarter"]
PERIODS: tuple[str, ...] = get_args(Period)
_LAST = re.compile(r"^(\d{1,4})([dwmqy])$")
_UNITS = {"d": "day", "w": "week", "m": "month", "q": "quarter", "y": "year"}


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The local calendar day of an aware (or naive UTC) instant in `zone`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which local `day` begins in `zone`."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period_start(day: date, period: str) -> date:
    """The first local day of the period holding `day` (weeks start on Monday, ISO 8601)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def next_start(start: date, period: str) -> date:
    """The first day of the period after the one starting at `start`."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    months = 1 if period == "month" else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def previous_start(start: date, period: str) -> date:
    """The first day of the period before the one starting at `start`."""
    return period_start(start - timedelta(days=1), period)


def period_starts(since: date, until: date, period: str) -> list[date]:
    """Every period start from the one holding `since` to the one holding `until`."""
    starts, current = [], period_start(since, period)
    while current <= until:
        starts.append(current)
        current = next_start(current, period)
    return starts


def last_window(text: str, today: date) -> tuple[date, date]:
    """`--last 12w` -> (first day, today): whole periods, the current one included.

    "12w" is this week and the 11 before it, from a Monday; "6m" months from the 1st; "30d"
    days; "2q" quarters; "1y" four quarters. ValueError with the accepted forms otherwise.
    """
    match = _LAST.match(text.strip().lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"--last: expected a count and a unit such as 30d, 12w, 6m, 4q or "
                         f"1y (d=days, w=weeks, m=months, q=quarters, y=years), got {text!r}")
    count, unit = int(match.group(1)), _UNITS[match.group(2)]
    if unit == "year":
        count, unit = count * 4, "quarter"
    start = period_start(today, unit)
    for _ in range(count - 1):
        start = previous_start(start, unit)
    return start, today
