"""Quiet hours and send days, in the contact's own time zone.

A survey due at night or on an off day is deferred to the next allowed local minute, never
skipped. Wall times are mapped to instants carefully: a quiet-hours end that falls in a DST
gap (it does not exist that day) maps to the instant the clocks jump, and one that falls in a
DST overlap (it happens twice) maps to its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from closedloop.daemon.rules.decision import Reason
from closedloop.daemon.surveys import Policy

_MAX_STEPS = 32  # a week of off days plus quiet hours needs far fewer; a bound, not a guess


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_zone(name: str | None, default: str) -> ZoneInfo:
    """The contact's zone, or the policy's default when the CRM gave none or an unknown one."""
    zone = _zone(name) if name else None
    fallback = _zone(default)
    if zone is not None:
        return zone
    if fallback is None:
        raise ValueError(f"unknown default time zone {default!r}")
    return fallback


def in_quiet_hours(moment: time, start: time | None, end: time | None) -> bool:
    """True inside [start, end); a window whose end is earlier than its start spans midnight."""
    if start is None or end is None:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def blocked(instant: datetime, zone: ZoneInfo, policy: Policy) -> Reason | None:
    """Why no mail may leave at `instant` for someone living in `zone`, or None."""
    local = instant.astimezone(zone)
    if local.weekday() not in policy.send_days:
        return Reason.SEND_DAY
    if in_quiet_hours(local.time().replace(tzinfo=None), policy.quiet_start, policy.quiet_end):
        return Reason.QUIET_HOURS
    return None


def next_allowed(instant: datetime, zone: ZoneInfo,
                 policy: Policy) -> tuple[datetime, Reason | None]:
    """The first instant at or after `instant` when mail may leave, and why it is not `instant`.

    Returns (instant, None) when mail may leave right away; otherwise the UTC instant of the
    next allowed local minute and the first rule that blocked (send_day before quiet_hours).
    """
    first = blocked(instant, zone, policy)
    if first is None:
        return instant, None
    current = instant
    for _ in range(_MAX_STEPS):
        reason = blocked(current, zone, policy)
        if reason is None:
            return current.astimezone(UTC), first
        current = instant_of(_next_wall(current.astimezone(zone), reason, policy), zone)
    raise ValueError("no allowed send time within a week: check send_days and quiet_hours")


def _next_wall(local: datetime, reason: Reason, policy: Policy) -> datetime:
    """The naive local wall time where the blocking rule next lets go."""
    wall = local.replace(tzinfo=None)
    if reason is Reason.SEND_DAY:
        return datetime.combine(wall.date() + timedelta(days=1), time(0))
    assert policy.quiet_start is not None
    assert policy.quiet_end is not None
    end = policy.quiet_end
    spans_midnight = policy.quiet_start > end
    day = wall.date() + timedelta(days=1) if spans_midnight and wall.time() >= end else wall.date()
    return datetime.combine(day, end)


def instant_of(wall: datetime, zone: ZoneInfo) -> datetime:
    """The earliest UTC instant whose local wall time is at or after `wall` (DST-safe)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists (an overlap's fold=0 is its first occurrence)
    # In a DST gap: fold=1 lands before the jump, fold=0 after; find the jump to the minute.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= low:
            break
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high
