"""Cadence arithmetic: calendar cycles of 3/6/12 months, the spread of send times, the keys."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from closedloop.daemon.jobs.cadence import (
    Cycle,
    cadence_horizon,
    cycle_at,
    cycles_between,
    idem_key,
    send_time,
    spread,
    window_start,
)
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.base import MemberSelection


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("moment", "months", "start", "end"), [
    (utc(2026, 11, 20, 9), 3, utc(2026, 10, 1), utc(2027, 1, 1)),
    (utc(2026, 11, 20, 9), 6, utc(2026, 7, 1), utc(2027, 1, 1)),
    (utc(2026, 11, 20, 9), 12, utc(2026, 1, 1), utc(2027, 1, 1)),
    (utc(2026, 2, 28, 23, 59, 59), 3, utc(2026, 1, 1), utc(2026, 4, 1)),
    (utc(2028, 2, 29, 12), 6, utc(2028, 1, 1), utc(2028, 7, 1)),  # leap day
    (utc(2026, 3, 31, 23, 59, 59), 3, utc(2026, 1, 1), utc(2026, 4, 1)),  # month end
    (utc(2026, 4, 1), 3, utc(2026, 4, 1), utc(2026, 7, 1)),  # a cycle starts at midnight
    (utc(2026, 6, 30, 23, 59, 59, 999999), 6, utc(2026, 1, 1), utc(2026, 7, 1)),
    (utc(2026, 12, 31, 23, 59, 59), 3, utc(2026, 10, 1), utc(2027, 1, 1)),  # year end
    (utc(2027, 1, 1), 12, utc(2027, 1, 1), utc(2028, 1, 1)),
])
def test_cycles_are_calendar_blocks_anchored_on_january(
        moment: datetime, months: int, start: datetime, end: datetime) -> None:
    """3 months start on 1 Jan/Apr/Jul/Oct, 6 on 1 Jan/Jul, 12 on 1 Jan (UTC midnight)."""
    assert cycle_at(moment, months) == Cycle(start, end)


def test_an_aware_local_time_is_placed_by_its_utc_instant() -> None:
    """01:00 on 1 July in Oslo (UTC+2) is still 30 June in UTC: the January cycle."""
    oslo_summer = timezone(timedelta(hours=2))
    assert cycle_at(datetime(2026, 7, 1, 1, tzinfo=oslo_summer), 6).label == "2026-01"


def test_a_month_count_that_does_not_divide_the_year_is_refused() -> None:
    with pytest.raises(ValueError, match="not 5"):
        cycle_at(utc(2026, 1, 1), 5)


def test_cycles_between_are_consecutive_and_cover_the_range() -> None:
    """Every cycle that overlaps the range, once each, back to back."""
    cycles = list(cycles_between(utc(2026, 11, 20), utc(2027, 8, 2), 3))
    assert [c.label for c in cycles] == ["2026-10", "2027-01", "2027-04", "2027-07"]
    assert all(a.end == b.start for a, b in itertools.pairwise(cycles))


def test_the_outbox_key_names_program_source_person_and_cycle() -> None:
    program = Program("nps-pro", SurveyType.NPS, "hubspot", timedelta(0), "Acme",
                      audience=MemberSelection(list_id="7"))
    cycle = cycle_at(utc(2026, 11, 20), 6)
    assert idem_key(program, "hubspot", "42", cycle) == "nps-pro:hubspot:contact:42:cycle:2026-07"


def test_spread_is_stable_per_person_and_differs_between_programs() -> None:
    """The same inputs give the same place (no state needed); another program reshuffles."""
    assert spread("nps", "hubspot", "42") == spread("nps", "hubspot", "42")
    assert spread("nps", "hubspot", "42") != spread("nps-eu", "hubspot", "42")
    assert spread("nps", "hubspot", "42") != spread("nps", "zendesk", "42")
    assert all(0 <= spread("nps", "hubspot", str(i)) < 1 for i in range(1000))


def test_ten_thousand_members_spread_evenly_over_a_cycle() -> None:
    """No burst: the busiest day of a 6-month cycle carries under twice the daily mean (a
    per-person hash is random, so a day varies like a Poisson count around the mean)."""
    cycle = cycle_at(utc(2027, 1, 1), 6)
    days = Counter(send_time(cycle, cycle.start, spread("nps", "hubspot", str(i))).date()
                   for i in range(10_000))
    mean = 10_000 / (cycle.end - cycle.start).days
    assert len(days) == (cycle.end - cycle.start).days  # every day of the cycle has some
    assert max(days.values()) < 2 * mean


def test_send_times_stay_inside_the_window() -> None:
    """From the cycle start (or the program's first pass in its first cycle) to its end."""
    cycle = cycle_at(utc(2026, 11, 20), 6)
    started = utc(2026, 11, 20, 9, 30)
    assert window_start(cycle, started) == started
    assert window_start(cycle, utc(2025, 3, 1)) == cycle.start
    assert send_time(cycle, started, 0.0) == started
    assert send_time(cycle, started, 0.999999999) < cycle.end
    assert send_time(cycle, started, 0.5) == started + (cycle.end - started) / 2


def test_a_person_is_asked_about_every_n_months() -> None:
    """Same place in each cycle: two consecutive sends are one cycle apart (give or take the
    cycles' different lengths in days)."""
    fraction = spread("nps", "hubspot", "42")
    first = cycle_at(utc(2027, 1, 1), 6)
    second = cycle_at(first.end, 6)
    gap = send_time(second, first.start, fraction) - send_time(first, first.start, fraction)
    assert timedelta(days=180) <= gap <= timedelta(days=185)


def test_rows_are_queued_two_run_intervals_ahead_at_least_a_day() -> None:
    """A run that comes late (or fails once) still finds each send queued before it is due."""
    assert cadence_horizon(timedelta(hours=6)) == timedelta(days=1)
    assert cadence_horizon(timedelta(days=1)) == timedelta(days=2)
