"""The rule engine, rule by rule, with the clock given explicitly (the engine reads none)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from closedloop.daemon.rules import (
    Action,
    Decision,
    Due,
    Facts,
    ParentState,
    PersonBook,
    Reason,
    decide,
)
from closedloop.daemon.rules.book import ANY_PROGRAM, Sibling
from closedloop.daemon.rules.engine import PAUSED_RECHECK
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday, 10:00 UTC
ADA = "ada@example.com"
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
POLICY = Policy()
EMPTY = PersonBook({})


def due(key: str = "csat:hubspot:ticket:1", **fields: Any) -> Due:
    values: dict[str, Any] = {
        "key": key, "program": "csat", "kind": "survey", "person": ADA, "ticket_id": "1",
        "closed_at": NOW - timedelta(hours=1), "created_at": NOW - timedelta(minutes=50),
        "due_at": NOW, "timezone": None,
    }
    values.update(fields)
    return Due(**values)


def judge(row: Due, program: Program | None = CSAT, *, book: PersonBook = EMPTY,
          facts: Facts | None = None, policy: Policy = POLICY, now: datetime = NOW) -> Decision:
    return decide(row, program, policy, now, book, facts or Facts())


def skipped(reason: Reason) -> Decision:
    return Decision(Action.SKIP, reason)


def test_a_plain_due_survey_is_sent() -> None:
    assert judge(due()) == Decision(Action.SEND)


def test_removed_program() -> None:
    assert judge(due(), None) == skipped(Reason.PROGRAM_REMOVED)


def test_expires_after_the_programs_window_from_the_close() -> None:
    """expire_after counts from the ticket's close, per program."""
    short = replace(CSAT, expire_after=timedelta(days=2))
    old = due(closed_at=NOW - timedelta(days=2))
    assert judge(old, short) == skipped(Reason.EXPIRED)
    assert judge(old) == Decision(Action.SEND)  # the default 14 days
    assert judge(due(closed_at=NOW - timedelta(days=2) + timedelta(seconds=1)), short) \
        == Decision(Action.SEND)


def test_paused_program_holds_until_recheck_or_expiry() -> None:
    """Held, not lost: looked at again in an hour, or at the expiry if that comes first."""
    paused = replace(CSAT, enabled=False)
    assert judge(due(), paused) == Decision(Action.HOLD, Reason.PROGRAM_PAUSED,
                                            NOW + PAUSED_RECHECK)
    near = due(closed_at=NOW - timedelta(days=14) + timedelta(minutes=20))
    assert judge(near, paused).until == NOW + timedelta(minutes=20)
    at_expiry = judge(near, paused, now=NOW + timedelta(minutes=20))
    assert at_expiry == skipped(Reason.EXPIRED)


def test_no_address_and_suppressed() -> None:
    assert judge(due(person=None)) == skipped(Reason.NO_EMAIL)
    assert judge(due(), facts=Facts(suppressed=True)) == skipped(Reason.SUPPRESSED)


def test_reopened_ticket_cancels() -> None:
    assert judge(due(), facts=Facts(reopened=True)) == skipped(Reason.TICKET_REOPENED)


def test_sampling_is_applied_to_surveys() -> None:
    """With a 50 % sample, some tickets are out, and the same ticket decides the same."""
    half = replace(CSAT, sample=50.0)
    verdicts = {t: judge(due(ticket_id=str(t)), half).action for t in range(40)}
    assert set(verdicts.values()) == {Action.SEND, Action.SKIP}
    assert verdicts == {t: judge(due(ticket_id=str(t)), half).action for t in range(40)}
    out = next(t for t, v in verdicts.items() if v is Action.SKIP)
    assert judge(due(ticket_id=str(out)), half) == skipped(Reason.SAMPLED_OUT)


def book_with(*rows: tuple[str, datetime | None, str],
              ledger: dict[tuple[str, str], datetime] | None = None) -> PersonBook:
    return PersonBook(ledger or {}, [(ADA, Sibling(key, "csat", closed, status))
                                     for key, closed, status in rows])


def test_coalescing_later_ticket_of_the_burst_carries_the_survey() -> None:
    """Two tickets closed 5 h apart: the earlier row is skipped, the later one goes."""
    first = due("k1", closed_at=NOW - timedelta(hours=6))
    second = due("k2", closed_at=NOW - timedelta(hours=1))
    book = book_with(("k1", first.closed_at, "pending"), ("k2", second.closed_at, "pending"))
    assert judge(first, book=book) == skipped(Reason.COALESCED)
    assert judge(second, book=book) == Decision(Action.SEND)


def test_coalescing_after_a_survey_already_went_out() -> None:
    """A ticket closed 3 h after one whose survey was sent: part of that burst, skipped."""
    book = book_with(("k1", NOW - timedelta(hours=4), "sent"))
    no_cooldowns = Policy(global_cooldown=timedelta(0))
    assert judge(due("k2"), book=book, policy=no_cooldowns) == skipped(Reason.COALESCED)


def test_coalescing_window_and_chains() -> None:
    """Outside the window both go; a chain 0 h / 20 h / 40 h is one burst for 24 h."""
    apart = book_with(("k1", NOW - timedelta(hours=30), "pending"))
    assert judge(due("k0", closed_at=NOW - timedelta(hours=55)), book=apart) \
        == Decision(Action.SEND)
    chain = [due(f"k{i}", closed_at=NOW - timedelta(hours=40 - 20 * i)) for i in range(3)]
    book = book_with(*((d.key, d.closed_at, "pending") for d in chain))
    assert [judge(d, book=book).reason for d in chain] == [Reason.COALESCED, Reason.COALESCED,
                                                            None]


def test_coalescing_ignores_skipped_rows_other_programs_and_zero_window() -> None:
    book = PersonBook({}, [(ADA, Sibling("k1", "csat", NOW, "skipped")),
                           (ADA, Sibling("k2", "ces", NOW, "pending"))])
    assert judge(due("k0"), book=book) == Decision(Action.SEND)
    later = book_with(("k1", NOW, "pending"))
    assert judge(due("k0"), replace(CSAT, coalesce=timedelta(0)), book=later) \
        == Decision(Action.SEND)


def test_program_cooldown_reads_only_this_programs_ledger() -> None:
    weekly = replace(CSAT, cooldown=timedelta(days=30))
    relaxed = Policy(global_cooldown=timedelta(0))
    this = PersonBook({(ADA, "csat"): NOW - timedelta(days=29)})
    other = PersonBook({(ADA, "ces"): NOW - timedelta(days=1)})
    assert judge(due(), weekly, book=this, policy=relaxed) == skipped(Reason.PROGRAM_COOLDOWN)
    assert judge(due(), weekly, book=other, policy=relaxed) == Decision(Action.SEND)
    done = PersonBook({(ADA, "csat"): NOW - timedelta(days=30)})
    assert judge(due(), weekly, book=done, policy=relaxed) == Decision(Action.SEND)


def test_global_cooldown_reads_the_any_program_ledger() -> None:
    """Any survey to the person (any program, any CRM) within 7 days blocks this one."""
    recent = PersonBook({(ADA, ANY_PROGRAM): NOW - timedelta(days=6, hours=23)})
    assert judge(due(), book=recent) == skipped(Reason.GLOBAL_COOLDOWN)
    old = PersonBook({(ADA, ANY_PROGRAM): NOW - timedelta(days=7)})
    assert judge(due(), book=old) == Decision(Action.SEND)


def test_book_records_a_send_for_both_ledgers() -> None:
    """After a simulated send, the next row of any program meets the global cooldown."""
    book = PersonBook({})
    book.record_sent(ADA, "ces", "x", NOW - timedelta(hours=1))
    assert judge(due(), book=book) == skipped(Reason.GLOBAL_COOLDOWN)
    assert book.last_sent(ADA, "ces") == NOW - timedelta(hours=1)


def test_quiet_hours_defer_rather_than_skip() -> None:
    night = NOW.replace(hour=22)
    assert judge(due(), now=night) == Decision(Action.DEFER, Reason.QUIET_HOURS,
                                               (night + timedelta(days=1)).replace(hour=8))
    oslo = judge(due(timezone="Europe/Oslo"), now=NOW.replace(hour=6, minute=30))
    assert oslo == Decision(Action.DEFER, Reason.QUIET_HOURS, NOW.replace(hour=7, minute=0))


def test_skip_rules_come_before_deferral() -> None:
    """A suppressed person at night is skipped now, not deferred to the morning."""
    assert judge(due(), facts=Facts(suppressed=True), now=NOW.replace(hour=23)) \
        == skipped(Reason.SUPPRESSED)


def reminder(**fields: Any) -> Due:
    values: dict[str, Any] = {"kind": "reminder", "reminder_no": 1,
                              "created_at": NOW - timedelta(days=3), "key": "k:reminder:1"}
    values.update(fields)
    return due(**values)


SENT = ParentState(sent_at=NOW - timedelta(days=3), answered=False)
WITH_REMINDERS = replace(CSAT, reminders=(timedelta(days=3), timedelta(days=7)))


@pytest.mark.parametrize(("parent", "expected"), [
    (None, skipped(Reason.PARENT_NOT_SENT)),
    (ParentState(sent_at=None, answered=False), skipped(Reason.PARENT_NOT_SENT)),
    (ParentState(sent_at=NOW - timedelta(days=3), answered=True), skipped(Reason.ANSWERED)),
    (SENT, Decision(Action.SEND)),
])
def test_reminders_follow_their_survey(parent: ParentState | None, expected: Decision) -> None:
    assert judge(reminder(), WITH_REMINDERS, facts=Facts(parent=parent)) == expected


def test_reminders_ignore_cooldowns_but_not_suppression_pause_or_other_surveys() -> None:
    """The survey itself set the ledger 3 days ago: that is no reason to hold its reminder."""
    sent_at = NOW - timedelta(days=3)
    own = PersonBook({(ADA, "csat"): sent_at, (ADA, ANY_PROGRAM): sent_at})
    facts = Facts(parent=SENT)
    assert judge(reminder(), WITH_REMINDERS, book=own, facts=facts) == Decision(Action.SEND)
    assert judge(reminder(), WITH_REMINDERS, facts=Facts(parent=SENT, suppressed=True)) \
        == skipped(Reason.SUPPRESSED)
    assert judge(reminder(), replace(WITH_REMINDERS, enabled=False), facts=facts).action \
        is Action.HOLD
    since = PersonBook({(ADA, ANY_PROGRAM): NOW - timedelta(days=1)})
    assert judge(reminder(), WITH_REMINDERS, book=since, facts=facts) \
        == skipped(Reason.SUPERSEDED)
    assert judge(reminder(), WITH_REMINDERS, facts=facts, now=NOW.replace(hour=22)).action \
        is Action.DEFER


def test_reminder_expiry_counts_from_its_own_due_time() -> None:
    """Reminder 2 (7 days after the survey) is not expired by a 5-day window at day 8."""
    short = replace(WITH_REMINDERS, expire_after=timedelta(days=5))
    second = reminder(reminder_no=2, key="k:reminder:2", closed_at=NOW - timedelta(days=9),
                      created_at=NOW - timedelta(days=8))
    assert judge(second, short, facts=Facts(parent=SENT)) == Decision(Action.SEND)
    assert judge(second, short, facts=Facts(parent=SENT), now=NOW + timedelta(days=4)) \
        == skipped(Reason.EXPIRED)


def test_decisions_do_not_depend_on_the_wall_clock() -> None:
    with time_machine.travel(datetime(2030, 1, 1, 3, 0, tzinfo=UTC), tick=False):
        assert judge(due()) == Decision(Action.SEND)
