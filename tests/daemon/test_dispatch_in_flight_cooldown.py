"""A survey in flight elsewhere holds the person's cooldowns; the ledger never moves back.

Real store (SQLite and PostgreSQL), real SMTP sink, the real dispatcher. Another dispatcher
(a replica, or one whose group of 250s the database refused) is played through the store's
own transitions. Pinned: while its survey to a person is 'sending' or 'awaiting_reply', this
dispatcher's survey of another program to the same person does not go out (before, the
ledger did not know of the first mail yet and both went out) and is not skipped either: it
waits until the first one's lease ends ("survey_in_flight"), then is skipped
global_cooldown if that mail arrived, or counted as arrived (swept outcome unknown), and is
sent if it failed for good; a row only claimed elsewhere makes the rows after it in due
order wait the same way, and holds nothing for those before it; the moment counted is the
hand-over (sent_at) or, before it, the lease's end; the ledger keeps the later of two times
whatever order they are recorded in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import time_machine
from sqlalchemy import event, update

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs import dispatch
from closedloop.daemon.jobs.dispatch import LEASE, DispatchResult, dispatch_due
from closedloop.daemon.plan import make_plan
from closedloop.daemon.rules import PersonBook
from closedloop.daemon.rules.book import ANY_PROGRAM
from closedloop.daemon.store import NewSend, SendRecord, SentMark, Store
from closedloop.daemon.store.ledger import OthersClaims
from closedloop.daemon.store.sends import SENDS
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning: no quiet hours
CLOSED = NOW - timedelta(hours=2)
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
NPS = Program("nps", SurveyType.NPS, "hubspot", timedelta(hours=1), "Acme")
ADA = "ada@example.com"


def compose(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = f"{row.program} {row.idem_key}"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


def queue(store: Store, key: str, program: Program, due: datetime,
          email: str = ADA) -> None:
    store.add_sends([NewSend(idem_key=key, program=program.name,
                             survey_type=program.type.value, source="hubspot",
                             contact_id=f"c-{email}", due_at=due, created_at=CLOSED,
                             closed_at=CLOSED, ticket_id=key, email=email)])


def elsewhere(store: Store, step: str) -> SendRecord:
    """Another dispatcher takes the one due row (csat) as far as `step`."""
    [row] = store.claim_due_sends(NOW, 1, LEASE)
    if step in ("sending", "awaiting_reply"):
        assert store.begin_sending(row.id, NOW)
    if step == "awaiting_reply":
        assert store.end_of_data(row.id, 1, NOW - timedelta(seconds=5))
    return row


def run(store: Store, sink: LocalMailSink, now: datetime = NOW) -> DispatchResult:
    with time_machine.travel(now, tick=False):
        return dispatch_due(store, {"csat": CSAT, "nps": NPS},
                            SmtpSender("127.0.0.1", sink.port), compose, now, policy=Policy())


@pytest.mark.parametrize("step", ["sending", "awaiting_reply"])
def test_a_survey_in_flight_elsewhere_defers_the_other_program(
        store: Store, sink: LocalMailSink, step: str) -> None:
    """Ada's csat survey is in flight in another dispatcher; her nps survey, due a minute
    later, neither goes out (one mail reaches her, not two) nor is skipped: it waits until
    the csat row's lease ends, when its outcome is known."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, step)
    result = run(store, sink)
    assert (result.sent, dict(result.skipped), dict(result.deferred)) == (
        0, {}, {"survey_in_flight": 1})
    assert [m["Subject"] for m in sink.messages] == []
    nps = store.get_send(flying.id + 1)
    assert nps is not None
    assert nps.idem_key == "nps-1"
    assert (nps.status, nps.due_at, nps.last_error) == (
        "pending", NOW + LEASE, "deferred: survey_in_flight")


def test_when_the_mail_in_flight_arrived_the_other_is_skipped(
        store: Store, sink: LocalMailSink) -> None:
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, "awaiting_reply")
    run(store, sink)
    assert store.mark_sent_many([SentMark(flying.id, NOW, "<c1@x>", ())]) == 1
    result = run(store, sink, NOW + LEASE - timedelta(seconds=1))
    assert (result.sent, dict(result.skipped)) == (0, {})  # not due yet
    result = run(store, sink, NOW + LEASE)
    assert (result.sent, dict(result.skipped)) == (0, {"global_cooldown": 1})
    assert [m["Subject"] for m in sink.messages] == []


@pytest.mark.parametrize("step", ["sending", "awaiting_reply"])
def test_when_the_mail_in_flight_failed_for_good_the_other_goes_out(
        store: Store, sink: LocalMailSink, step: str) -> None:
    """The relay refused the csat mail for good (a 5xx): the nps survey is not lost to a
    cooldown that mail never started."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, step)
    run(store, sink)
    store.mark_send_failed(flying.id, "550 mailbox unavailable", None)
    result = run(store, sink, NOW + LEASE)
    assert (result.sent, dict(result.skipped)) == (1, {})
    assert [m["Subject"] for m in sink.messages] == ["nps nps-1"]


@pytest.mark.parametrize(("step", "subjects", "status"), [
    ("sending", ["csat csat-1"], "sent"),  # the relay held nothing yet: sent again, here
    ("awaiting_reply", [], "outcome_unknown"),  # may have arrived: never sent again
])
def test_a_flight_its_dispatcher_abandoned_still_gives_one_mail_at_most(
        store: Store, sink: LocalMailSink, step: str, subjects: list[str],
        status: str) -> None:
    """The other dispatcher died mid-send: at its lease's end this one sweeps the row and
    decides the nps survey with the safer outcome; Ada gets at most one mail."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, step)
    run(store, sink)
    result = run(store, sink, NOW + LEASE)
    csat = store.get_send(flying.id)
    assert (dict(result.skipped), csat and csat.status) == ({"global_cooldown": 1}, status)
    assert [m["Subject"] for m in sink.messages] == subjects


def test_a_row_claimed_elsewhere_before_this_ones_turn_makes_it_wait(
        store: Store, sink: LocalMailSink) -> None:
    """Two dispatchers hold one row of Ada's each: csat (due first) there, nps here. Each
    would send its own (neither is begun when the other reads its book): nps waits for the
    csat row's lease end instead, as one dispatcher deciding in due order would."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    elsewhere(store, "claimed")
    result = run(store, sink)
    assert (result.sent, dict(result.skipped), dict(result.deferred)) == (
        0, {}, {"survey_in_flight": 1})
    assert sink.messages == []


def test_a_row_claimed_elsewhere_after_this_ones_turn_holds_nothing(
        store: Store, sink: LocalMailSink) -> None:
    """The other side: the csat row claimed there comes after nps in due order, so nps
    goes (the csat row's dispatcher then finds it in flight or sent)."""
    queue(store, "csat-1", CSAT, NOW - timedelta(seconds=30))
    [there] = store.claim_due_sends(NOW, 1, LEASE)
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    result = run(store, sink)
    assert (result.sent, dict(result.skipped)) == (1, {})
    assert [m["Subject"] for m in sink.messages] == ["nps nps-1"]
    assert store.person_book([ADA]).last_sent(ADA, ANY_PROGRAM) == NOW
    assert there.idem_key == "csat-1"


@pytest.mark.parametrize(("died", "subjects", "skipped"), [
    (False, [], {"global_cooldown": 1}),  # it sent csat: nps meets the cooldown
    (True, ["csat csat-1"], {"global_cooldown": 1}),  # handed back: both here, in turn
])
def test_after_the_claim_elsewhere_ends_one_mail_at_most(
        store: Store, sink: LocalMailSink, died: bool, subjects: list[str],
        skipped: dict[str, int]) -> None:
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    there = elsewhere(store, "claimed")
    run(store, sink)
    if not died:  # the other dispatcher sends it before its lease ends
        assert store.begin_sending(there.id, NOW)
        assert store.mark_sent_many([SentMark(there.id, NOW, "<c1@x>", ())]) == 1
    result = run(store, sink, NOW + LEASE)
    assert dict(result.skipped) == skipped
    assert [m["Subject"] for m in sink.messages] == subjects


def test_the_moment_counted_is_the_hand_over_else_the_lease_end(store: Store) -> None:
    """The book's last-sent times: an awaiting_reply row at its sent_at (5 s before NOW),
    a sending row at its lease's end (NOW + LEASE), for the program and for "*"."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    handed = elsewhere(store, "awaiting_reply")
    book = store.person_book([ADA])
    assert (book.last_sent(ADA, "csat"), book.last_sent(ADA, ANY_PROGRAM)) == (
        NOW - timedelta(seconds=5), NOW - timedelta(seconds=5))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1), email="bea@example.com")
    [begun] = store.claim_due_sends(NOW, 1, LEASE)
    assert begun.id != handed.id
    assert store.begin_sending(begun.id, NOW)
    book = store.person_book(["bea@example.com"])
    assert book.last_sent("bea@example.com", "nps") == NOW + LEASE


def test_the_ledger_keeps_the_later_time_whatever_the_order(store: Store) -> None:
    """A newer mark recorded first, then an older one (an outcome-unknown row swept late):
    the ledger stays at the newer; a newer one after moves it on."""
    for key, program in (("csat-1", CSAT), ("nps-1", NPS), ("csat-2", CSAT)):
        queue(store, key, program, NOW - timedelta(minutes=5))
    rows = store.claim_due_sends(NOW, 3, LEASE)
    for row in rows:
        assert store.begin_sending(row.id, NOW)
        assert store.end_of_data(row.id, 1, NOW)
    first, second, third = sorted(rows, key=lambda r: r.idem_key)  # csat-1, csat-2, nps-1
    later = NOW + timedelta(minutes=1)
    assert store.mark_sent_many([SentMark(third.id, later, "<n1@x>", ())]) == 1
    store.mark_outcome_unknown(first.id, "interrupted_during_send", NOW)
    book = store.person_book([ADA])
    assert (book.last_sent(ADA, ANY_PROGRAM), book.last_sent(ADA, "nps")) == (later, later)
    latest = NOW + timedelta(minutes=2)
    assert store.mark_sent_many([SentMark(second.id, latest, "<c2@x>", ())]) == 1
    book = store.person_book([ADA])
    assert (book.last_sent(ADA, ANY_PROGRAM), book.last_sent(ADA, "csat")) == (latest, latest)


@pytest.mark.parametrize("step", ["sending", "awaiting_reply"])
def test_plan_shows_the_wait_and_then_the_safer_outcome(store: Store, step: str) -> None:
    """`closedloop plan` plays the same wait: at the csat row's lease end it counts that
    mail as arrived (what it assumes of every mail), so the nps survey shows as skipped
    global_cooldown then, as the dispatcher decides it if the mail arrives."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    elsewhere(store, step)
    plan = make_plan(store, {"csat": CSAT, "nps": NPS}, Policy(), {}, NOW, days=1)
    assert [(e.program, e.action, e.reason, e.at) for e in plan.entries] == [
        ("nps", "skip", "global_cooldown", NOW + LEASE)]


def test_a_renewed_lease_defers_again(store: Store, sink: LocalMailSink) -> None:
    """The other dispatcher is still waiting on the relay and renews its lease: at the old
    end the nps survey waits again, until the new one."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, "awaiting_reply")
    run(store, sink)
    assert store.renew_claims([flying.id], NOW + 2 * LEASE) == 1
    result = run(store, sink, NOW + LEASE)
    assert (result.sent, dict(result.skipped), dict(result.deferred)) == (
        0, {}, {"survey_in_flight": 1})
    nps = store.get_send(flying.id + 1)
    assert nps is not None
    assert nps.due_at == NOW + 2 * LEASE
    assert sink.messages == []


def test_a_mail_in_flight_refused_for_now_gives_way_to_the_waiting_one(
        store: Store, sink: LocalMailSink) -> None:
    """The relay refused the csat mail for now (a 4xx: retried in 10 minutes): at the
    lease's end the nps survey goes out, and the csat retry is then skipped by the global
    cooldown. One mail."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, "sending")
    run(store, sink)
    store.mark_send_failed(flying.id, "421 try again later", NOW + timedelta(minutes=10))
    assert run(store, sink, NOW + LEASE).sent == 1
    result = run(store, sink, NOW + timedelta(minutes=10))
    assert (result.sent, dict(result.skipped)) == (0, {"global_cooldown": 1})
    assert [m["Subject"] for m in sink.messages] == ["nps nps-1"]


def test_a_run_does_not_take_back_the_rows_it_deferred(
        store: Store, sink: LocalMailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flight's lease ends a millisecond after the run's start: the run's running clock
    passes it at once, but the nps row it deferred to then waits for the next run (whose
    rules see the new time) instead of being claimed and deferred again by this one, a
    claim and a CRM check each time, for ever with a full batch of such rows."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    [row] = store.claim_due_sends(NOW, 1, timedelta(milliseconds=1))
    assert store.begin_sending(row.id, NOW)
    claims: list[int] = []
    real = store.claim_due_sends

    def counted(now: datetime, limit: int, lease: timedelta,
                due_by: datetime | None = None) -> list[SendRecord]:
        claims.append(limit)
        if len(claims) > 20:
            raise AssertionError("the run keeps claiming the rows it deferred")
        time.sleep(0.002)  # the run's clock passes the flight's end
        return real(now, limit, lease, due_by)

    monkeypatch.setattr(store, "claim_due_sends", counted)
    with time_machine.travel(NOW, tick=False):
        result = dispatch_due(store, {"csat": CSAT, "nps": NPS},
                              SmtpSender("127.0.0.1", sink.port), compose, NOW,
                              batch=1, policy=Policy())
    assert (dict(result.deferred), len(claims)) == ({"survey_in_flight": 1}, 2)


@pytest.mark.parametrize(("claimed_there", "sent_here"), [
    ("csat-1", []),  # the same due time: its key comes first, so nps waits
    ("nps-1", ["csat csat-1"]),  # the claim there comes after: csat goes here
])
def test_at_the_same_due_time_the_key_gives_the_turn(
        store: Store, sink: LocalMailSink, claimed_there: str, sent_here: list[str]) -> None:
    """An NPS and a CSAT survey to Ada due together, one held by each dispatcher: the one
    first in due order (due time, then key, as claims take them) goes, the other waits."""
    due = NOW - timedelta(minutes=1)
    first, second = (CSAT, NPS) if claimed_there == "csat-1" else (NPS, CSAT)
    queue(store, f"{first.name}-1", first, due)
    [there] = store.claim_due_sends(NOW, 1, LEASE)
    assert there.idem_key == claimed_there
    queue(store, f"{second.name}-1", second, due)
    result = run(store, sink)
    assert [m["Subject"] for m in sink.messages] == sent_here
    assert dict(result.deferred) == ({} if sent_here else {"survey_in_flight": 1})


@pytest.mark.parametrize(("csat_due", "deferred", "subjects"), [
    (timedelta(minutes=2), {"survey_in_flight": 1}, []),  # before nps: another's claim
    (timedelta(seconds=30), {}, ["nps nps-1"]),  # after this batch's last row: not passed over
])
def test_a_row_another_is_claiming_right_now_counts_as_its_claim(
        store: Store, sink: LocalMailSink, monkeypatch: pytest.MonkeyPatch,
        csat_due: timedelta, deferred: dict[str, int], subjects: list[str]) -> None:
    """On PostgreSQL a claim not committed yet is passed over (SKIP LOCKED) and reads as
    pending: Ada's csat row, due before the batch's last row, was not given to this
    dispatcher, so another holds it; her nps row waits (for the lease a claim gets) instead
    of going beside it. A pending row after the batch's last row was never in reach of
    this claim: nothing. (SQLite's claims hold the write lock: never half made.)"""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a claim passes over locked rows on PostgreSQL only")
    queue(store, "csat-1", CSAT, NOW - csat_due)
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    real = store.claim_due_sends

    def passing_over_csat(now: datetime, limit: int, lease: timedelta,
                          due_by: datetime | None = None) -> list[SendRecord]:
        with store.engine.begin() as conn:  # as if locked by another's open transaction
            conn.execute(update(SENDS).where(SENDS.c.idem_key == "csat-1")
                         .values(status="locked elsewhere"))
        try:
            return real(now, limit, lease, due_by)
        finally:
            with store.engine.begin() as conn:
                conn.execute(update(SENDS).where(SENDS.c.idem_key == "csat-1")
                             .values(status="pending"))

    monkeypatch.setattr(store, "claim_due_sends", passing_over_csat)
    result = run(store, sink)
    assert dict(result.deferred) == deferred
    assert [m["Subject"] for m in sink.messages] == subjects


@pytest.mark.parametrize(("renew_every", "seen"), [
    (timedelta(0), "skipped"),  # written at the renewal before the next row
    (timedelta(hours=1), "claimed"),  # no renewal in the batch: written with its end
])
def test_decided_rows_leave_claimed_at_the_batchs_renewal(
        store: Store, sink: LocalMailSink, monkeypatch: pytest.MonkeyPatch,
        renew_every: timedelta, seen: str) -> None:
    """Bea's row is skipped (suppressed), then Ada's is sent: by the time Ada's mail is
    composed after a renewal, Bea's skip is in the store, so no other dispatcher's row of
    Bea's waits on a claim that will never be sent."""
    queue(store, "csat-bea", CSAT, NOW - timedelta(minutes=2), email="bea@example.com")
    queue(store, "csat-ada", CSAT, NOW - timedelta(minutes=1))
    store.suppress("bea@example.com", "unsubscribed", NOW - timedelta(days=1))
    monkeypatch.setattr(dispatch, "RENEW_EVERY", renew_every)
    statuses: list[str] = []

    def composing(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
        bea = store.get_send(1)
        assert bea is not None
        statuses.append(bea.status)
        return compose(row, program, now)

    with time_machine.travel(NOW, tick=False):
        result = dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", sink.port),
                              composing, NOW, policy=Policy())
    assert (result.sent, dict(result.skipped), statuses) == (1, {"suppressed": 1}, [seen])


def test_a_mail_recorded_sent_while_the_book_is_read_still_counts(
        store: Store, sink: LocalMailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other dispatcher records its csat mail sent (row and ledger, one transaction)
    between the book's two reads. On PostgreSQL each read sees what was committed before
    it: reading the ledger first saw neither the ledger row nor a mail in flight, and
    Ada got both surveys (found by 3 threads racing 200 people: 1-3 doubles a run). The
    rows are read first now: the mail is in flight in one read or in the ledger in the
    other, so her nps survey is skipped (SQLite's one snapshot: it waits for the mail).
    No mail either way."""
    queue(store, "csat-1", CSAT, NOW - timedelta(minutes=2))
    queue(store, "nps-1", NPS, NOW - timedelta(minutes=1))
    flying = elsewhere(store, "awaiting_reply")
    reading_book = False
    real_book = store.person_book

    def book(people: Sequence[str], claims: OthersClaims | None = None) -> PersonBook:
        nonlocal reading_book
        reading_book = True
        try:
            return real_book(people, claims)
        finally:
            reading_book = False

    def between(conn: object, cursor: object, statement: str, *rest: object) -> None:
        nonlocal reading_book
        if reading_book:  # right after the book's first read, the other records its mail
            reading_book = False
            assert store.mark_sent_many([SentMark(flying.id, NOW, "<c1@x>", ())]) == 1

    monkeypatch.setattr(store, "person_book", book)
    event.listen(store.engine, "after_cursor_execute", between)
    try:
        result = run(store, sink)
    finally:
        event.remove(store.engine, "after_cursor_execute", between)
    assert sink.messages == []
    if store.engine.dialect.name == "postgresql":
        assert (result.sent, dict(result.skipped)) == (0, {"global_cooldown": 1})
    else:  # SQLite reads the book in one snapshot: the mail is still in flight there
        assert (result.sent, dict(result.deferred)) == (0, {"survey_in_flight": 1})
