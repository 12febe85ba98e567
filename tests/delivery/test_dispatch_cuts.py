"""Dispatch through a relay that cuts the connection at each step of the SMTP dialogue.

Real store (SQLite and PostgreSQL), real SMTP (a relay on 127.0.0.1 that breaks the first
connection at a chosen point, then behaves). Pinned: a cut before the final dot (at connect,
after MAIL, mid-payload) loses nothing and mails once; a cut after it is "outcome unknown":
never sent again, counted as sent by the rules (cooldown holds, no reminder), shown apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import time_machine
from cutting_relay import CuttingRelay

from closedloop.daemon.channels.mail import CUT_RETRY
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import (
    MAIL_RETRY,
    MAX_SEND_ATTEMPTS,
    DispatchResult,
    dispatch_due,
)
from closedloop.daemon.store import CONNECTION_LOST, OUTCOME_UNKNOWN, NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning: no quiet hours
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               reminders=(timedelta(days=3),))
BIG = 16 * 1024 * 1024  # too big to sit in the kernel's buffers: a mid-payload cut is seen


def compose(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = f"{row.kind} {row.idem_key}"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    line = "x" * 75 + "\n"
    msg.set_content("How did we do?\n" + (line * (BIG // len(line)) if "big" in row.idem_key
                                          else ""))
    return msg


def queue(store: Store, key: str, closed: datetime = NOW - timedelta(hours=1)) -> None:
    store.add_sends([NewSend(idem_key=key, program="csat", survey_type="csat",
                             source="hubspot", contact_id="c1", due_at=closed + CSAT.delay,
                             created_at=closed, closed_at=closed, ticket_id=key,
                             email="ada@example.com")])


def run(store: Store, relay: CuttingRelay, now: datetime) -> DispatchResult:
    with time_machine.travel(now, tick=False):
        return dispatch_due(store, {"csat": CSAT},
                            SmtpSender("127.0.0.1", relay.port, timeout=10), compose, now,
                            policy=Policy())


def only_send(store: Store) -> SendRecord:
    send = store.get_send(1)
    assert send is not None
    return send


@pytest.mark.parametrize(("cut", "key", "wait"), [
    ("connect", "t1", MAIL_RETRY), ("mail", "t1", CUT_RETRY), ("payload", "t1-big", CUT_RETRY),
])
def test_a_cut_before_the_end_of_data_is_sent_again_exactly_once(
        store: Store, cut: str, key: str, wait: timedelta) -> None:
    """(a) at connect, (b) after MAIL, (c) mid-payload: the relay has nothing, the row is
    pending again (due MAIL_RETRY later when the relay hung up at once, as if unavailable;
    CUT_RETRY later when a dialogue was cut, a blip), and the next run delivers it, once."""
    queue(store, key)
    with CuttingRelay([cut]) as relay:
        first = run(store, relay, NOW)
        assert (first.sent, first.retried, first.failed, relay.delivered) == (0, 1, 0, [])
        row = only_send(store)
        assert (row.status, row.due_at) == ("pending", NOW + wait)
        assert run(store, relay, NOW + wait - timedelta(seconds=1)).sent == 0
        second = run(store, relay, NOW + wait)
        third = run(store, relay, NOW + timedelta(hours=2))
        assert (second.sent, third.sent, len(relay.delivered)) == (1, 0, 1)
    assert only_send(store).status == "sent"


def test_a_cut_after_the_end_of_data_is_outcome_unknown_and_counted_as_sent(
        store: Store) -> None:
    """(d) the relay kept the mail and died before its 250: the row is outcome_unknown
    (connection lost after the end of data), never sent again, gets no reminder, and the
    program's next survey for the person is held back by the global cooldown."""
    queue(store, "t1")
    with CuttingRelay(["end_of_data"]) as relay:
        first = run(store, relay, NOW)
        assert (first.sent, first.unknown, first.retried, first.failed) == (0, 1, 0, 0)
        row = only_send(store)
        assert (row.status, row.skip_reason, row.sent_at) == (
            OUTCOME_UNKNOWN, CONNECTION_LOST, NOW)
        later = NOW + timedelta(days=2)
        queue(store, "t2", closed=later - timedelta(hours=1))  # another ticket, 2 days on
        second = run(store, relay, later)
        assert (second.sent, dict(second.skipped)) == (0, {"global_cooldown": 1})
        assert run(store, relay, NOW + timedelta(days=5)).sent == 0  # no reminder at day 3
        assert len(relay.delivered) == 1
    counts = store.counts()
    assert (counts["sends.outcome_unknown"], counts[f"outcome_unknown.{CONNECTION_LOST}"],
            counts["sends.sent"], counts["sends.failed"]) == (1, 1, 0, 0)


def test_a_normal_reply_is_sent_and_queues_its_reminder(store: Store) -> None:
    """(e) the relay answers 250: sent at once, and the reminder follows three days on."""
    queue(store, "t1")
    with CuttingRelay() as relay:
        assert run(store, relay, NOW).sent == 1
        assert run(store, relay, NOW + timedelta(days=3)).sent == 1  # the reminder
        assert len(relay.delivered) == 2
    assert only_send(store).status == "sent"


def test_a_mail_cut_every_time_fails_after_the_last_attempt(store: Store) -> None:
    """A mail whose every try is cut mid-dialogue backs off (30 s, 1, 2, 4 min) and fails with
    a clear reason after MAX_SEND_ATTEMPTS tries, not one more; nothing reached the relay."""
    queue(store, "t1")
    with CuttingRelay(["mail"] * MAX_SEND_ATTEMPTS) as relay:
        at, waits = NOW, []
        for _ in range(MAX_SEND_ATTEMPTS - 1):
            assert run(store, relay, at).retried == 1
            due = only_send(store).due_at
            waits.append(due - at)
            at = due
        last = run(store, relay, at)
        assert (last.retried, last.failed, relay.delivered) == (0, 1, [])
        assert run(store, relay, at + timedelta(days=1)).sent == 0
    assert waits == [CUT_RETRY * n for n in (1, 2, 4, 8)]
    row = only_send(store)
    assert (row.status, row.attempts) == ("failed", MAX_SEND_ATTEMPTS)
    assert row.last_error == (f"gave up after {MAX_SEND_ATTEMPTS} attempts: "
                              "connection lost before DATA: SMTPServerDisconnected")
