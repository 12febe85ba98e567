"""A skip that rests only on a survey still in flight elsewhere waits for its outcome.

Pure rule engine, clock given. Ada's NPS survey is on its way in another dispatcher (a
Flight: counted as sent at `at`, its outcome known by `ends`, its lease's end). Her CSAT
survey comes due: while that outcome is unknown, a skip the flight alone causes is a
deferral to `ends` ("survey_in_flight"); from `ends` on, the flight counts as sent (the safer
outcome) and the skip is made. A skip the rules make without the flight stands at once.
Both sides of each edge: `ends` itself, the row's expiry before or after `ends`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.rules import Action, Decision, Due, Facts, PersonBook, Reason, decide
from closedloop.daemon.rules.book import ANY_PROGRAM, Flight, ParentState, Sibling
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning
ADA = "ada@example.com"
ENDS = NOW + timedelta(seconds=30)  # the flight's lease end
TICK = timedelta(microseconds=1)
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               cooldown=timedelta(days=30), coalesce=timedelta(hours=24),
               reminders=(timedelta(days=3),))
ANY_TIME = Policy(quiet_start=None, quiet_end=None)  # global cooldown: 7 days
WAIT = Decision(Action.DEFER, Reason.SURVEY_IN_FLIGHT, ENDS)


def survey(key: str = "csat-2", closed: datetime = NOW - timedelta(hours=1)) -> Due:
    return Due(key=key, program="csat", kind="survey", person=ADA, ticket_id=key,
               closed_at=closed, created_at=closed, due_at=NOW, timezone=None)


def flying(program: str = "nps", key: str = "nps-1", *,
           ledger: dict[tuple[str, str], datetime] | None = None,
           rows: tuple[Sibling, ...] = ()) -> PersonBook:
    """Ada's book with one survey of `program` in flight (handed over a second ago)."""
    flight = Flight(key, program, NOW - timedelta(seconds=1), ENDS)
    return PersonBook(ledger or {}, [(ADA, r) for r in rows], [(ADA, flight)])


def judge(row: Due, book: PersonBook, now: datetime = NOW, program: Program = CSAT,
          facts: Facts | None = None, policy: Policy = ANY_TIME) -> Decision:
    return decide(row, program, policy, now, book, facts or Facts())


@pytest.mark.parametrize(("now", "expected"), [
    (NOW, WAIT),
    (ENDS - TICK, WAIT),  # the last moment the outcome is unknown
    (ENDS, Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)),  # the lease ended: counted as sent
])
def test_another_programs_flight_defers_until_its_end(now: datetime,
                                                      expected: Decision) -> None:
    assert judge(survey(), flying(), now) == expected


def test_the_book_counts_a_flight_as_sent_and_the_settled_view_leaves_it_out() -> None:
    book = flying()
    assert (book.last_sent(ADA, "nps"), book.last_sent(ADA, ANY_PROGRAM)) == (
        NOW - timedelta(seconds=1), NOW - timedelta(seconds=1))
    assert book.last_sent(ADA, "csat") is None
    assert (book.unresolved(ADA, ENDS - TICK), book.unresolved(ADA, ENDS)) == (ENDS, None)
    assert book.settled(ADA, NOW).last_sent(ADA, ANY_PROGRAM) is None
    assert book.settled(ADA, ENDS).last_sent(ADA, ANY_PROGRAM) == NOW - timedelta(seconds=1)


def test_a_skip_without_the_flight_stands_at_once() -> None:
    """Another survey reached Ada 2 days ago: skipped global_cooldown now, no wait."""
    two_days = NOW - timedelta(days=2)
    book = flying(ledger={(ADA, "ces"): two_days, (ADA, ANY_PROGRAM): two_days})
    assert judge(survey(), book) == Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)


def test_the_sure_reason_is_given_not_the_flights() -> None:
    """The flight is CSAT's own (program cooldown, checked first) but a settled CES survey
    2 days ago skips it anyway: the skip carries the reason that holds either way."""
    two_days = NOW - timedelta(days=2)
    book = flying("csat", "csat-1", ledger={(ADA, "ces"): two_days,
                                            (ADA, ANY_PROGRAM): two_days})
    assert judge(survey(), book) == Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)
    assert judge(survey(), flying("csat", "csat-1")) == WAIT  # the program cooldown's flight


def test_a_flight_changes_nothing_when_no_cooldown_applies() -> None:
    none = replace(ANY_TIME, global_cooldown=timedelta(0))
    assert judge(survey(), flying(), policy=none) == Decision(Action.SEND)


def test_a_reason_the_book_does_not_give_is_not_deferred() -> None:
    assert judge(survey(), flying(), facts=Facts(suppressed=True)) == \
        Decision(Action.SKIP, Reason.SUPPRESSED)
    assert judge(survey(), flying(), facts=Facts(reopened=True)) == \
        Decision(Action.SKIP, Reason.TICKET_REOPENED)


def test_another_persons_flight_is_not_waited_on() -> None:
    bea = PersonBook({}, [], [("bea@example.com",
                               Flight("nps-1", "nps", NOW - timedelta(seconds=1), ENDS))])
    assert judge(survey(), bea) == Decision(Action.SEND)


@pytest.mark.parametrize(("expire_after", "until"), [
    (timedelta(hours=1, seconds=29), NOW + timedelta(seconds=29)),  # expires first
    (timedelta(hours=1, seconds=30), ENDS),  # expires as the flight ends
    (timedelta(hours=1, seconds=31), ENDS),
])
def test_the_wait_ends_at_the_rows_expiry_if_sooner(expire_after: timedelta,
                                                    until: datetime) -> None:
    program = replace(CSAT, expire_after=expire_after)  # closed an hour ago
    assert judge(survey(), flying(), program=program) == \
        Decision(Action.DEFER, Reason.SURVEY_IN_FLIGHT, until)


def test_the_earliest_of_two_flights_ends_the_wait() -> None:
    later = Flight("ces-1", "ces", NOW, ENDS + timedelta(minutes=1))
    book = PersonBook({}, [], [(ADA, later),
                               (ADA, Flight("nps-1", "nps", NOW - timedelta(seconds=1), ENDS))])
    assert judge(survey(), book) == WAIT
    assert judge(survey(), book, ENDS) == Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)


@pytest.mark.parametrize(("status", "expected"), [
    ("sending", WAIT),  # the burst's survey is on its way: it may still fail
    ("sent", Decision(Action.SKIP, Reason.COALESCED)),
])
def test_coalescing_on_a_burst_survey_in_flight(status: str, expected: Decision) -> None:
    """CSAT's cooldown off: only the burst counts. Ticket 1 (an hour before) got the survey."""
    program = replace(CSAT, cooldown=timedelta(0))
    policy = replace(ANY_TIME, global_cooldown=timedelta(0))
    first = Sibling("csat-1", "csat", NOW - timedelta(hours=2), status)
    flights = [(ADA, Flight("csat-1", "csat", NOW - timedelta(seconds=1), ENDS))] \
        if status == "sending" else []
    book = PersonBook({}, [(ADA, first)], flights)
    assert judge(survey(), book, program=program, policy=policy) == expected


def test_a_later_burst_ticket_in_flight_is_waited_on_then_carries_the_survey() -> None:
    """The later ticket's survey is in flight: if it fails, this row would be the one to go."""
    program = replace(CSAT, cooldown=timedelta(0))
    policy = replace(ANY_TIME, global_cooldown=timedelta(0))
    later = Sibling("csat-3", "csat", NOW - timedelta(minutes=30), "sending")
    book = PersonBook({}, [(ADA, later)],
                      [(ADA, Flight("csat-3", "csat", NOW - timedelta(seconds=1), ENDS))])
    assert judge(survey(), book, program=program, policy=policy) == WAIT
    assert judge(survey(), book, ENDS, program=program, policy=policy) == \
        Decision(Action.SKIP, Reason.COALESCED)


@pytest.mark.parametrize(("now", "expected"), [
    (ENDS - TICK, WAIT),
    (ENDS, Decision(Action.SKIP, Reason.SUPERSEDED)),
])
def test_a_reminder_waits_on_a_newer_survey_in_flight(now: datetime,
                                                      expected: Decision) -> None:
    reminder = replace(survey("csat-1:reminder:1"), kind="reminder", reminder_no=1,
                       created_at=NOW - timedelta(days=3))
    parent = ParentState(sent_at=NOW - timedelta(days=3), answered=False)
    assert judge(reminder, flying(), now, facts=Facts(parent=parent)) == expected


@pytest.mark.parametrize(("known", "expected"), [
    (NOW, Decision(Action.DEFER, Reason.SURVEY_IN_FLIGHT, NOW + timedelta(hours=1))),
    (ENDS - TICK, Decision(Action.DEFER, Reason.SURVEY_IN_FLIGHT, NOW + timedelta(hours=1))),
    (ENDS, Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)),
])
def test_a_row_decided_now_for_its_later_due_time(known: datetime,
                                                  expected: Decision) -> None:
    """Bulk sends decide a row due in an hour now: the flight has ended by then, but its
    outcome is unknown now, so no skip is stored; the wait is until the row's own time."""
    later = NOW + timedelta(hours=1)
    row = replace(survey(), due_at=later)
    assert decide(row, CSAT, ANY_TIME, later, flying(), Facts(), known=known) == expected
    assert decide(row, CSAT, ANY_TIME, later, flying(), Facts()) == \
        Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)  # plan's view: the mail arrived


def claim(due_at: datetime, key: str, ends: datetime = ENDS) -> Flight:
    """Ada's row `key`, due at `due_at`, only claimed by another dispatcher."""
    return Flight(key, "nps", ends, ends, claim=True, turn=(due_at, key))


def claimed_there(due_at: datetime, key: str) -> PersonBook:
    return PersonBook({}, [], [(ADA, claim(due_at, key))])


MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(("due_at", "key", "now", "expected"), [
    (NOW - MINUTE, "nps-1", NOW, WAIT),  # its turn comes first
    (NOW, "csat-1", NOW, WAIT),  # the same due time, its key first ("csat-1" < "csat-2")
    (NOW, "csat-3", NOW, Decision(Action.SEND)),  # the same due time, its key after
    (NOW + TICK, "a", NOW, Decision(Action.SEND)),  # due after this row
    (NOW - MINUTE, "nps-1", ENDS - TICK, WAIT),
    (NOW - MINUTE, "nps-1", ENDS, Decision(Action.SEND)),  # its lease ended: not counted
])
def test_a_row_claimed_elsewhere_counts_before_this_ones_turn_until_its_lease_ends(
        due_at: datetime, key: str, now: datetime, expected: Decision) -> None:
    """Unlike a mail begun, a claimed row past its lease is no mail: the dispatcher that
    held it died before beginning, or let it go; the sweep hands it back to be decided in
    turn. So it counts only while its lease runs (and then as something to wait for)."""
    assert judge(survey(), claimed_there(due_at, key), now) == expected


@pytest.mark.parametrize(("cooldown", "expected"), [
    (timedelta(0), Decision(Action.SEND)),  # no cooldown: nothing to wait for
    (timedelta(microseconds=1), WAIT),
])
def test_a_zero_cooldown_ignores_a_mail_not_handed_over_yet(cooldown: timedelta,
                                                            expected: Decision) -> None:
    """Before its hand-over a flight counts as sent at its lease's end, after `now`: with
    the cooldowns off (and no coalescing) Ada's second CSAT ticket must not wait for it
    (before the waits, it was skipped program_cooldown for good)."""
    program = replace(CSAT, cooldown=cooldown, coalesce=timedelta(0))
    policy = replace(ANY_TIME, global_cooldown=timedelta(0))
    book = PersonBook({}, [], [(ADA, Flight("csat-1", "csat", ENDS, ENDS))])
    assert judge(survey(), book, program=program, policy=policy) == expected
    glob = replace(ANY_TIME, global_cooldown=cooldown)
    assert judge(survey(), book, program=replace(program, cooldown=timedelta(0)),
                 policy=glob) == expected


def test_a_claim_of_any_turn_counts_for_the_widget() -> None:
    """turn None (the widget's card, read after every claim): a claim due after the card's
    own due time counts too, while its lease runs."""
    book = PersonBook({}, [], [(ADA, Flight("nps-1", "nps", ENDS, ENDS, claim=True))])
    assert judge(survey(), book) == WAIT
    assert judge(survey(), book, ENDS) == Decision(Action.SEND)


def test_a_claim_counts_from_its_lease_end_not_its_due_time() -> None:
    """A short global cooldown (1 minute) and a claimed row due 5 minutes ago: counted at
    its due time it would be outside the cooldown and both would go."""
    short = replace(ANY_TIME, global_cooldown=MINUTE)
    assert judge(survey(), claimed_there(NOW - 5 * MINUTE, "nps-1"), policy=short) == WAIT


@pytest.mark.parametrize("other", [
    claim(NOW + MINUTE, "nps-9"),  # after this row
    claim(NOW - MINUTE, "nps-1", ends=NOW),  # its lease is over
])
def test_a_claim_that_does_not_count_beside_a_begun_mail_that_does_not_either(
        other: Flight) -> None:
    """A begun mail long settled (40 days: outside every cooldown) beside a claim that does
    not count: nothing holds the row."""
    begun = Flight("ces-1", "ces", NOW - timedelta(days=40), NOW - timedelta(days=40))
    book = PersonBook({}, [], [(ADA, begun), (ADA, other)])
    assert judge(survey(), book) == Decision(Action.SEND)


def test_the_ledger_and_the_rows_still_count_beside_a_claim_after_this_row() -> None:
    day = NOW - timedelta(days=1)
    after = claim(NOW + MINUTE, "nps-9")
    book = PersonBook({(ADA, "ces"): day, (ADA, ANY_PROGRAM): day}, [], [(ADA, after)])
    assert judge(survey(), book) == Decision(Action.SKIP, Reason.GLOBAL_COOLDOWN)
    later = Sibling("csat-3", "csat", NOW - timedelta(minutes=30), "pending")
    book = PersonBook({}, [(ADA, later)], [(ADA, after)])
    assert judge(survey(), book) == Decision(Action.SKIP, Reason.COALESCED)


def test_a_begun_mail_still_counts_beside_a_claim_after_this_row() -> None:
    """The claim after this row is left out of its book; the mail being sent is not."""
    begun = Flight("ces-1", "ces", NOW - timedelta(seconds=1), ENDS)
    book = PersonBook({}, [], [(ADA, begun), (ADA, claim(NOW + MINUTE, "nps-9"))])
    assert judge(survey(), book) == WAIT
