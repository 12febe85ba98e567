"""A quiet source's CRM calls in one simulated day, every job counted (issue: ≤ 300 a day).

The jobs run as the scheduler runs them with the default intervals (poll, intake,
write-back, outbound webhooks, alerts and bounces every minute, dispatch every 30 s, the NPS
cadence every 6 h) on a clock moved by hand through 24 hours, against the sandbox over real
HTTP; the sandbox counts every call it answered. Nothing closes all day, so every call is an
idle call. With notifications the poll backs off to `safety_poll_every` (1 h); without,
to `idle_poll_max` (5 min). A fixed one-minute poll (before) cost 1,441 (HubSpot: 1,440
searches and the pipelines read) and 1,440 (Zendesk: export pages).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from e2e_loop import Loop
from notified_loop import notified_loop

DAY = timedelta(days=1)
TICK = timedelta(seconds=30)
LIMIT = 300


@contextmanager
def quiet_loop(tmp_path: Path, crm_name: str, notifications: bool) -> Iterator[Loop]:
    gen = notified_loop(tmp_path, crm_name, notifications=notifications)
    loop = next(gen)
    try:
        yield loop
    finally:
        gen.close()


def run_one_day(loop: Loop) -> dict[str, int]:
    """Drive the scheduled jobs through a day; the sandbox's calls per endpoint."""
    rt = loop.rt
    loop.crm.reset_calls()
    cadence_every = rt.config.daemon.cadence_every
    elapsed = timedelta(0)
    sandbox = loop.crm.sandbox  # type: ignore[attr-defined]
    while elapsed < DAY:
        # A simulated day passes in seconds: the sandbox's per-second windows (HubSpot's 5
        # searches a second) would see a burst no real day has, so they start empty each tick.
        sandbox.reset_limits()
        rt.dispatch()
        if elapsed % timedelta(minutes=1) == timedelta(0):
            rt.scheduled_poll()
            rt.intake()
            rt.write_back()
            rt.deliver_webhooks()
            rt.alerts()
            rt.process_bounces()
        if elapsed % cadence_every == timedelta(0):
            rt.cadence()
        loop.clock.advance(TICK)
        elapsed += TICK
    return {k: v for k, v in sandbox.calls.items() if v}


@pytest.mark.slow
@pytest.mark.parametrize("notifications", [True, False], ids=["notified", "polled"])
def test_quiet_source_costs_at_most_300_calls_a_day(tmp_path: Path, crm_name: str,
                                                    notifications: bool) -> None:
    """Every job of a quiet source together makes at most 300 CRM calls in 24 h, with or
    without change notifications (the poll's backed-off reads are all of them)."""
    with quiet_loop(tmp_path, crm_name, notifications) as loop:
        calls = run_one_day(loop)
    total = sum(calls.values())
    print(f"quiet {crm_name} notifications={notifications}: {total} calls/day {calls}")
    polls = calls.get("POST /crm/v3/objects/tickets/search", 0) + calls.get(
        "GET /api/v2/incremental/tickets/cursor.json", 0)
    assert (total <= LIMIT, total - polls <= 1) == (True, True), calls
