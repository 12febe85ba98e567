"""A dispatcher killed mid-send: what the next run does with the row it left behind.

Real store (SQLite and PostgreSQL), real SMTP sink. The dead dispatcher is played through the
store's own transitions (claim, begin_sending, end_of_data), and the mail it handed over is
really delivered to the sink, as kill -9 after the final dot would leave things. Pinned:
killed after the end of data → outcome unknown (interrupted_during_send): never resent,
counted as sent by the cooldowns, no reminder, shown apart; killed before it → sent again,
once; a mail's 250 waits unrecorded for at most a group of mails, and a kill in that
window leaves each of them outcome unknown.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs import sent_marks
from closedloop.daemon.jobs.dispatch import LEASE, DispatchResult, dispatch_due
from closedloop.daemon.store import INTERRUPTED, OUTCOME_UNKNOWN, NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning: no quiet hours
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               reminders=(timedelta(days=3),))


def compose(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = f"{row.kind} {row.idem_key}"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


def queue(store: Store, key: str, email: str = "ada@example.com",
          closed: datetime = NOW - timedelta(hours=1)) -> None:
    store.add_sends([NewSend(idem_key=key, program="csat", survey_type="csat",
                             source="hubspot", contact_id=f"c-{email}",
                             due_at=closed + CSAT.delay, created_at=closed, closed_at=closed,
                             ticket_id=key, email=email)])


def run(store: Store, sink: LocalMailSink, now: datetime) -> DispatchResult:
    with time_machine.travel(now, tick=False):
        return dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", sink.port),
                            compose, now, policy=Policy())


def die_mid_send(store: Store, sink: LocalMailSink, *, after_end_of_data: bool) -> SendRecord:
    """What kill -9 leaves: the row begun (and, after the dot, the mail at the relay)."""
    [row] = store.claim_due_sends(NOW, 1, LEASE)
    assert store.begin_sending(row.id, NOW)
    if after_end_of_data:
        assert store.end_of_data(row.id, 1, NOW)
        SmtpSender("127.0.0.1", sink.port).send(compose(row, CSAT, NOW))
    return row


def test_killed_after_the_end_of_data_counts_as_sent(store: Store,
                                                      sink: LocalMailSink) -> None:
    """The next run finds the row past its lease: outcome_unknown (interrupted_during_send),
    not sent again; two days later the person's next survey is held by the global cooldown;
    no reminder follows at day 3; status counts it apart from sent and skipped."""
    queue(store, "t1")
    row = die_mid_send(store, sink, after_end_of_data=True)
    assert run(store, sink, NOW + LEASE).sent == 0
    after = store.get_send(row.id)
    assert after is not None
    assert (after.status, after.skip_reason, after.sent_at) == (OUTCOME_UNKNOWN, INTERRUPTED,
                                                                NOW)
    later = NOW + timedelta(days=2)
    queue(store, "t2", closed=later - timedelta(hours=1))
    second = run(store, sink, later)
    assert (second.sent, dict(second.skipped)) == (0, {"global_cooldown": 1})
    assert run(store, sink, NOW + timedelta(days=4)).sent == 0  # no reminder at day 3
    assert [str(m["Subject"]) for m in sink.messages] == ["survey t1"]
    counts = store.counts()
    assert (counts["sends.outcome_unknown"], counts[f"outcome_unknown.{INTERRUPTED}"],
            counts["sends.sent"], counts["sends.skipped"]) == (1, 1, 0, 1)


def test_killed_before_the_end_of_data_is_sent_again_once(store: Store,
                                                           sink: LocalMailSink) -> None:
    """The relay never saw the final dot, so it holds nothing: after the lease the row is
    pending again and the next run sends it, once, with its reminder queued."""
    queue(store, "t1")
    row = die_mid_send(store, sink, after_end_of_data=False)
    assert run(store, sink, NOW + LEASE - timedelta(seconds=1)).sent == 0  # lease still held
    assert run(store, sink, NOW + LEASE).sent == 1
    assert run(store, sink, NOW + timedelta(hours=1)).sent == 0
    after = store.get_send(row.id)
    assert after is not None
    assert (after.status, [str(m["Subject"]) for m in sink.messages]) == (
        "sent", ["survey t1"])
    assert run(store, sink, NOW + LEASE + timedelta(days=3)).sent == 1  # the reminder


def test_the_relays_250s_are_recorded_a_group_at_a_time(
        store: Store, sink: LocalMailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window a crash can leave open is at most SETTLE_EVERY mails wide: a mail the relay
    took stays 'awaiting_reply' until SETTLE_EVERY have gathered (here 2), then they are
    'sent' with the next mail's begin_sending; one fewer waits; the batch's end records the
    rest."""
    monkeypatch.setattr(sent_marks, "SETTLE_EVERY", 2)
    monkeypatch.setattr(sent_marks, "SETTLE_WITHIN", 3600.0)  # a slow CI box changes nothing
    for n in range(5):
        queue(store, f"t{n}", email=f"p{n}@example.com")
    seen: list[list[str]] = []

    def watching(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
        seen.append([s.status for s in map(store.get_send, range(1, 6)) if s is not None])
        return compose(row, program, now)

    with time_machine.travel(NOW, tick=False):
        result = dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", sink.port),
                              watching, NOW, policy=Policy())
    assert result.sent == 5
    c, a, s = "claimed", "awaiting_reply", "sent"
    assert seen == [[c, c, c, c, c], [a, c, c, c, c], [a, a, c, c, c], [s, s, a, c, c],
                    [s, s, a, a, c]]
    assert [r.status for r in map(store.get_send, range(1, 11)) if r is not None] == \
        [s] * 5 + ["pending"] * 5  # every mail recorded at the end, each with its reminder


def test_killed_with_a_groups_250s_unrecorded(tmp_path: Path, sink: LocalMailSink,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 while two mails' 250s wait to be recorded (the store copied at that moment is
    what the dead daemon leaves): the next run makes both outcome_unknown
    (interrupted_during_send), counted as sent and never sent again, and sends the third
    once."""
    monkeypatch.setattr(sent_marks, "SETTLE_WITHIN", 3600.0)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    for n in range(3):
        queue(store, f"t{n}", email=f"p{n}@example.com")
    left = tmp_path / "left.db"

    def dying(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
        if row.id == 3:
            with sqlite3.connect(tmp_path / "state.db") as live, sqlite3.connect(left) as copy:
                live.backup(copy)
            raise _Killed
        return compose(row, program, now)

    with time_machine.travel(NOW, tick=False), pytest.raises(_Killed):
        dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", sink.port), dying, NOW,
                     policy=Policy())
    store.dispose()
    after = Store(f"sqlite:///{left}")
    try:
        assert [r.status for r in map(after.get_send, (1, 2, 3)) if r is not None] == \
            ["awaiting_reply", "awaiting_reply", "claimed"]
        # the claim's lease ran from NOW plus the run's own few milliseconds
        assert run(after, sink, NOW + LEASE + timedelta(seconds=1)).sent == 1
        counts = after.counts()
        assert (counts["sends.sent"], counts[f"outcome_unknown.{INTERRUPTED}"]) == (1, 2)
        assert run(after, sink, NOW + timedelta(days=4)).sent == 1  # t2's reminder alone
    finally:
        after.dispose()
    assert [str(m["Subject"]) for m in sink.messages] == [
        "survey t0", "survey t1", "survey t2", "reminder t2:reminder:1"]


def test_a_relay_gone_mid_batch_hands_the_rest_back_and_records_what_left(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay goes away after the first mail (ChannelDown): the rest of the batch is handed
    back pending, and the first mail's waiting 250 is recorded on the way out."""
    monkeypatch.setattr(sent_marks, "SETTLE_WITHIN", 3600.0)
    for n in range(3):
        queue(store, f"t{n}", email=f"p{n}@example.com")
    relay = LocalMailSink().start()

    def stopping(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
        if row.id == 2:
            relay.stop()
        return compose(row, program, now)

    with time_machine.travel(NOW, tick=False):
        result = dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", relay.port,
                                                                 timeout=2), stopping, NOW,
                              policy=Policy())
    assert (result.sent, result.retried) == (1, 2)
    assert [r.status for r in map(store.get_send, (1, 2, 3)) if r is not None] == [
        "sent", "pending", "pending"]
    assert [str(m["Subject"]) for m in relay.messages] == ["survey t0"]
    assert [r.last_error for r in map(store.get_send, (2, 3)) if r] == [
        "mail relay: cannot connect: ConnectionRefusedError"] * 2  # handed back: ChannelDown


class _Killed(BaseException):
    """The daemon dying at that instant (nothing after it counts)."""


def test_a_refused_end_of_data_is_retried_and_forgets_its_hand_over_time(
        store: Store, sink: LocalMailSink) -> None:
    """The relay answers 451 to the final dot: it said no, so the row is pending again (not
    outcome_unknown) without the hand-over time end_of_data noted."""
    queue(store, "t1")
    sink.refuse("ada@example.com", "451 4.3.0 try again later", at="data")
    first = run(store, sink, NOW)
    row = store.get_send(1)
    assert row is not None
    assert (first.retried, first.unknown, row.status, row.sent_at) == (1, 0, "pending", None)
