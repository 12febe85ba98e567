"""Adaptive polling: a source's poll interval doubles while reads find nothing, and snaps
back to `daemon.poll_every` when they do.

- With CRM change notifications (`[sources.X] notifications = true`) the poll is a safety
  net: it backs off up to `safety_poll_every` (default 1 h) as long as it queues nothing
  the notifications had not already queued; one that does (a lost notification) snaps back.
- Without them it backs off on empty reads up to `idle_poll_max` (default 5 min), which is
  then the longest a closure on a quiet source waits to be seen (the survey's own delay,
  usually an hour or more, is counted from the close time, not from when it was seen).
  It never reads sooner than the `[coalescing] intake` window (30 min, capped at the
  shortest survey delay less 5 min): the poll is then the intake, and nothing it would find
  sooner is due before the window ends, so one read carries the window's closures.

A quiet source then costs one search per ceiling: 24 a day at 1 h, 288 at 5 min (HubSpot
one search call, Zendesk one export page), against 1,440 at a fixed minute. The pace lives
in the store (the cursors table), so a restart or another replica keeps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from closedloop.daemon.store import Store

PACE = "poll_pace"  # the cursor name under which a source's pace is kept


@dataclass(frozen=True)
class Pace:
    interval: timedelta
    next_at: datetime | None


def read_pace(store: Store, source: str, base: timedelta) -> Pace:
    """The stored pace of `source`; a fresh one (poll now, at `base`) when none or unreadable."""
    raw = store.get_cursor(source, PACE)
    try:
        data = json.loads(raw) if raw else {}
        return Pace(timedelta(seconds=float(data["interval"])),
                    datetime.fromisoformat(str(data["next_at"])))
    except (ValueError, KeyError, TypeError):
        return Pace(base, None)


def poll_due(store: Store, source: str, now: datetime, base: timedelta) -> bool:
    """Whether the source's poll should run now (its backed-off time has come)."""
    pace = read_pace(store, source, base)
    return pace.next_at is None or now >= pace.next_at


def next_interval(current: timedelta, found: bool, base: timedelta,
                  ceiling: timedelta) -> timedelta:
    """`base` when something was found, else double, within [base, ceiling]."""
    if found:
        return base
    return max(base, min(current * 2, ceiling))


def record_poll(store: Store, source: str, now: datetime, found: bool, base: timedelta,
                ceiling: timedelta, floor: timedelta = timedelta(0)) -> Pace:
    """Store the pace after a poll that found (or did not find) something; never sooner
    than `floor` (without notifications: the intake window, see runtime)."""
    interval = max(floor, next_interval(read_pace(store, source, base).interval, found, base,
                                        ceiling))
    # Slack of a tenth of `base`: the scheduler ticks every `base`, with jitter, and a run
    # a second early must not wait a whole extra tick.
    pace = Pace(interval, now + interval - base / 10)
    store.set_cursor(source, PACE, json.dumps({"interval": interval.total_seconds(),
                                               "next_at": pace.next_at.isoformat()
                                               if pace.next_at else None}), now)
    return pace
