"""Both sides of the rule edges a mutation once slipped past: the coalesce window exactly
apart, and the start (and end) of a quiet window that does not cross midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from closedloop.daemon.rules import (
    Action,
    Decision,
    Due,
    Facts,
    PersonBook,
    Reason,
    Sibling,
    decide,
    next_allowed,
)
from closedloop.daemon.rules.timing import in_quiet_hours
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday
ADA = "ada@example.com"
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               coalesce=timedelta(hours=24))
ANY_TIME = Policy(quiet_start=None, quiet_end=None)
LUNCH = Policy(quiet_start=time(12, 0), quiet_end=time(13, 30))  # does not cross midnight
SECOND = timedelta(seconds=1)


def survey(key: str, closed_at: datetime) -> Due:
    return Due(key=key, program="csat", kind="survey", person=ADA, ticket_id=key,
               closed_at=closed_at, created_at=closed_at, due_at=NOW, timezone=None)


def coalesce_pair(gap: timedelta, other_status: str) -> Decision:
    """The decision for a ticket closed `gap` before another of Ada's CSAT tickets."""
    mine = survey("k1", NOW - timedelta(hours=30))
    later = Sibling("k2", "csat", mine.closed_at + gap if mine.closed_at else None,
                    other_status)
    book = PersonBook({}, [(ADA, later), (ADA, Sibling("k1", "csat", mine.closed_at,
                                                       "pending"))])
    return decide(mine, CSAT, ANY_TIME, NOW, book, Facts())


@pytest.mark.parametrize(("gap", "expected"), [
    (timedelta(hours=24) - SECOND, Decision(Action.SKIP, Reason.COALESCED)),
    (timedelta(hours=24), Decision(Action.SKIP, Reason.COALESCED)),  # exactly apart: one burst
    (timedelta(hours=24) + SECOND, Decision(Action.SEND)),
])
def test_coalesce_window_exactly_apart_with_a_later_ticket_queued(
        gap: timedelta, expected: Decision) -> None:
    """Tickets closed exactly `coalesce` apart are one burst (the later carries the survey);
    a second more and each gets its own."""
    assert coalesce_pair(gap, "pending") == expected


@pytest.mark.parametrize(("gap", "expected"), [
    (timedelta(hours=24), Decision(Action.SKIP, Reason.COALESCED)),
    (timedelta(hours=24) + SECOND, Decision(Action.SEND)),
])
def test_coalesce_window_exactly_apart_after_a_survey_went_out(
        gap: timedelta, expected: Decision) -> None:
    """The same edge when the other ticket's survey was already sent."""
    assert coalesce_pair(-gap, "sent") == expected


@pytest.mark.parametrize(("moment", "quiet"), [
    (time(11, 59, 59), False),
    (time(12, 0), True),  # the start of the window is quiet
    (time(13, 29, 59), True),
    (time(13, 30), False),  # the end is not
])
def test_quiet_window_within_one_day_both_sides_of_each_end(moment: time, quiet: bool) -> None:
    assert in_quiet_hours(moment, LUNCH.quiet_start, LUNCH.quiet_end) is quiet


@pytest.mark.parametrize(("instant", "expected"), [
    (NOW.replace(hour=11, minute=59, second=59),
     (NOW.replace(hour=11, minute=59, second=59), None)),
    (NOW.replace(hour=12), (NOW.replace(hour=13, minute=30), Reason.QUIET_HOURS)),
    (NOW.replace(hour=13, minute=30), (NOW.replace(hour=13, minute=30), None)),
])
def test_a_survey_due_at_the_start_of_a_lunch_window_waits_for_its_end(
        instant: datetime, expected: tuple[datetime, Reason | None]) -> None:
    """Through next_allowed, as dispatch and plan see it."""
    assert next_allowed(instant, ZoneInfo("UTC"), LUNCH) == expected
