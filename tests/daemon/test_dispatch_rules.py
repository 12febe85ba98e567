"""Dispatch applies the fatigue rules: cooldowns, coalescing, reopen, quiet hours, pause, reminders.

Real store (SQLite and PostgreSQL), real SMTP (the aiosmtpd sink); the CRM is a small test
double of the adapter protocol's `reopened` (the adapters have their own contract tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import time_machine
from structlog.testing import capture_logs

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import (
    CRM_RETRY,
    CRM_RETRY_FIRST,
    DispatchResult,
    dispatch_due,
)
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.integration.errors import TransientError

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # Friday, 10:00 UTC
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
CES = Program("ces", SurveyType.CES, "zendesk", timedelta(hours=1), "Acme")
POLICY = Policy()


class FakeCRM:
    """The `reopened` part of an adapter: which tickets are open again; counts its calls."""

    def __init__(self, name: str, reopened: Sequence[str] = (), fail: bool = False) -> None:
        self.name = name
        self.open = set(reopened)
        self.fail = fail
        self.calls: list[list[str]] = []

    def reopened(self, ticket_ids: Sequence[str]) -> set[str]:
        self.calls.append(list(ticket_ids))
        if self.fail:
            raise TransientError("503 from the CRM")
        return self.open & set(ticket_ids)


def compose(row: SendRecord, program: Program, now: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = f"{row.kind} {row.survey_id} ticket {row.ticket_id}"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


def row(key: str, email: str = "ada@example.com", *, program: Program = CSAT,
        closed: datetime = NOW - timedelta(hours=1), **fields: Any) -> NewSend:
    values: dict[str, Any] = {
        "idem_key": key, "program": program.name, "survey_type": program.type.value,
        "source": program.source, "contact_id": f"c-{email}", "due_at": closed + program.delay,
        "created_at": closed, "ticket_id": key, "email": email, "closed_at": closed,
    }
    values.update(fields)
    return NewSend(**values)


def run(store: Store, sink: LocalMailSink, programs: Sequence[Program], now: datetime = NOW,
        policy: Policy = POLICY, adapters: dict[str, Any] | None = None) -> DispatchResult:
    with time_machine.travel(now, tick=False):
        return dispatch_due(store, {p.name: p for p in programs},
                            SmtpSender("127.0.0.1", sink.port), compose, now, policy=policy,
                            adapters=adapters)


def test_global_cooldown_across_programs_and_crms(store: Store, sink: LocalMailSink) -> None:
    """The same person (case differs) due in a HubSpot CSAT and a Zendesk CES: one mail."""
    store.add_sends([row("h1"), row("z1", "Ada@Example.COM", program=CES)])
    result = run(store, sink, [CSAT, CES])
    assert (result.sent, dict(result.skipped)) == (1, {"global_cooldown": 1})
    assert len(sink.messages) == 1
    # A week later the ledger no longer blocks: a new CES ticket is surveyed.
    later = NOW + timedelta(days=7, hours=1)
    store.add_sends([row("z2", program=CES, closed=later - timedelta(hours=1))])
    assert run(store, sink, [CSAT, CES], now=later).sent == 1


def test_program_cooldown_is_per_program(store: Store, sink: LocalMailSink) -> None:
    """A 30-day CSAT cooldown stops a second CSAT at day 10, not a CES the same day."""
    csat = replace(CSAT, cooldown=timedelta(days=30))
    store.add_sends([row("h1")])
    assert run(store, sink, [csat, CES]).sent == 1
    day10 = NOW + timedelta(days=10)
    store.add_sends([row("h2", closed=day10 - timedelta(hours=1)),
                     row("z1", "bob@example.com", program=CES, closed=day10 - timedelta(hours=1))])
    result = run(store, sink, [csat, CES], now=day10)
    assert (result.sent, dict(result.skipped)) == (1, {"program_cooldown": 1})


def test_tickets_closed_close_together_get_one_survey_about_the_latest(
        store: Store, sink: LocalMailSink) -> None:
    """Three tickets within 24 h of each other: one mail, about the last; two 'coalesced'."""
    store.add_sends([row(f"t{i}", closed=NOW - timedelta(hours=9 - 4 * i)) for i in range(3)])
    result = run(store, sink, [CSAT], now=NOW + timedelta(hours=1))
    assert (result.sent, dict(result.skipped)) == (1, {"coalesced": 2})
    assert sink.messages[0]["Subject"].endswith("ticket t2")


def test_a_ticket_closed_after_the_survey_left_joins_its_burst(
        store: Store, sink: LocalMailSink) -> None:
    relaxed = Policy(global_cooldown=timedelta(0))
    store.add_sends([row("t1")])
    assert run(store, sink, [CSAT], policy=relaxed).sent == 1
    later = NOW + timedelta(hours=5)
    store.add_sends([row("t2", closed=later - timedelta(hours=1))])
    assert dict(run(store, sink, [CSAT], now=later, policy=relaxed).skipped) == {"coalesced": 1}
    much_later = NOW + timedelta(days=3)
    store.add_sends([row("t3", closed=much_later - timedelta(hours=1))])
    assert run(store, sink, [CSAT], now=much_later, policy=relaxed).sent == 1


def test_reopened_ticket_cancels_and_frees_its_key(store: Store, sink: LocalMailSink) -> None:
    """The CRM says t1 reopened: skipped 'ticket_reopened', and the key can be queued again."""
    crm = FakeCRM("hubspot", reopened=["t1"])
    store.add_sends([row("t1"), row("t2", "bob@example.com")])
    result = run(store, sink, [CSAT], adapters={"hubspot": crm})
    assert (result.sent, dict(result.skipped)) == (1, {"ticket_reopened": 1})
    assert crm.calls == [["t1", "t2"]]
    assert store.existing_idem_keys(["t1"]) == set()
    # Solved again later: the same key queues a new survey, which goes out.
    again = NOW + timedelta(hours=3)
    crm.open.clear()
    assert store.add_sends([row("t1", closed=again - timedelta(hours=1))]) == 1
    assert run(store, sink, [CSAT], now=again, adapters={"hubspot": crm}).sent == 1
    assert store.counts()["skipped.ticket_reopened"] == 1


def test_reopen_check_is_batched_per_source(store: Store, sink: LocalMailSink) -> None:
    """250 due tickets in one claimed batch of 250: three calls (100, 100, 50), not 250.

    (One person's tickets, so 249 are coalesced away and the test needs one SMTP round.)
    """
    crm = FakeCRM("hubspot")
    store.add_sends([row(f"t{i:03}", closed=NOW - timedelta(hours=1, seconds=i))
                     for i in range(250)])
    with time_machine.travel(NOW, tick=False):
        result = dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", sink.port),
                              compose, NOW, batch=250, policy=POLICY, adapters={"hubspot": crm})
    assert (result.sent, sum(result.skipped.values())) == (1, 249)
    assert [len(c) for c in crm.calls] == [100, 100, 50]
    assert len({t for c in crm.calls for t in c}) == 250


def test_when_the_crm_cannot_say_the_row_waits(store: Store, sink: LocalMailSink) -> None:
    """The reopen check failed: nothing sent, the row is due again after the first backoff
    (test_dispatch_reopen_backoff.py plays the whole curve against the sandbox)."""
    store.add_sends([row("t1")])
    result = run(store, sink, [CSAT], adapters={"hubspot": FakeCRM("hubspot", fail=True)})
    assert (result.sent, result.retried, sink.messages) == (0, 1, [])
    pending = store.due_sends_until(NOW + CRM_RETRY)
    assert [(r.idem_key, r.due_at) for r in pending] == [("t1", NOW + CRM_RETRY_FIRST)]
    assert run(store, sink, [CSAT], now=NOW + CRM_RETRY_FIRST,
               adapters={"hubspot": FakeCRM("hubspot")}).sent == 1


def test_quiet_hours_defer_to_the_contacts_morning(store: Store, sink: LocalMailSink) -> None:
    """Due 22:00 UTC for someone in Oslo (23:00 there): deferred to 08:00 Oslo (07:00 UTC)."""
    night = NOW.replace(hour=22)
    store.add_sends([row("t1", closed=night - timedelta(hours=1), timezone="Europe/Oslo")])
    result = run(store, sink, [CSAT], now=night)
    assert (result.sent, dict(result.deferred)) == (0, {"quiet_hours": 1})
    assert store.counts()["sends.deferred"] == 1
    morning = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert [r.due_at for r in store.due_sends_until(morning)] == [morning]
    assert run(store, sink, [CSAT], now=morning - timedelta(minutes=1)).sent == 0
    assert run(store, sink, [CSAT], now=morning).sent == 1
    assert store.counts()["sends.deferred"] == 0


def test_paused_program_holds_then_sends_on_resume(store: Store, sink: LocalMailSink) -> None:
    paused = replace(CSAT, enabled=False)
    store.add_sends([row("t1"), row("t2", "bob@example.com",
                                     closed=NOW - timedelta(days=14) + timedelta(hours=2))])
    result = run(store, sink, [paused])
    assert (result.sent, dict(result.deferred)) == (0, {"program_paused": 2})
    assert store.counts()["sends.held"] == 2
    # Resumed three hours later: t2 expired in the meantime (14 days from its close), t1 goes.
    later = NOW + timedelta(hours=3)
    result = run(store, sink, [CSAT], now=later)
    assert (result.sent, dict(result.skipped)) == (1, {"expired": 1})
    assert store.counts()["sends.held"] == 0


def test_reminders_go_to_non_respondents_only(store: Store, sink: LocalMailSink) -> None:
    """Sending queues the reminders; an answer or an unsubscribe stops them."""
    reminding = replace(CSAT, reminders=(timedelta(days=3),))
    store.add_sends([row("t1"), row("t2", "bob@example.com"), row("t3", "cy@example.com")])
    assert run(store, sink, [reminding]).sent == 3
    sent = {r.idem_key: r for r in map(store.get_send, (1, 2, 3)) if r is not None}
    store.record_response(sent["t2"].id, 4, "satisfied", NOW + timedelta(hours=1))
    store.suppress("cy@example.com", "unsubscribed", NOW + timedelta(hours=2))
    later = NOW + timedelta(days=3)
    result = run(store, sink, [reminding], now=later)
    assert (result.sent, dict(result.skipped)) == (1, {"answered": 1, "suppressed": 1})
    reminder = sink.messages[-1]
    assert (reminder["To"], reminder["Subject"]) == ("ada@example.com",
                                                      f"reminder {sent['t1'].id} ticket t1")


def test_skip_reasons_are_counted_in_the_log(store: Store, sink: LocalMailSink) -> None:
    store.add_sends([row("h1"), row("z1", program=CES)])
    with capture_logs() as logs:
        run(store, sink, [CSAT, CES])
    done = next(e for e in logs if e["event"] == "dispatch.done")
    assert (done["sent"], done["skipped"], done["skipped_global_cooldown"]) == (1, 1, 1)
    assert not any("ada@example.com" in str(e) for e in logs)


def test_a_hard_bounce_suppresses_the_address_for_every_program(
        store: Store, sink: LocalMailSink) -> None:
    """550 5.1.1 at RCPT: that mail fails, and the next survey to them is never attempted."""
    sink.refuse("gone@example.com", "550 5.1.1 No such user")
    sink.refuse("full@example.com", "552 5.2.2 Mailbox full")
    store.add_sends([row("t1", "gone@example.com"), row("t2", "full@example.com")])
    assert run(store, sink, [CSAT, CES]).failed == 2
    assert store.is_suppressed("gone@example.com", NOW)
    assert not store.is_suppressed("full@example.com", NOW)  # says nothing about the person
    later = NOW + timedelta(days=8)
    store.add_sends([row("z1", "gone@example.com", program=CES, closed=later - timedelta(hours=1))])
    assert dict(run(store, sink, [CSAT, CES], now=later).skipped) == {"suppressed": 1}


def test_a_batch_killed_before_its_skips_are_written_decides_them_again(
        store: Store, sink: LocalMailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's skips wait for its end or next lease renewal (jobs/not_now.py; none
    comes in this short batch): killed there, the rows stay
    claimed, the sweep hands them back after the lease, and the next run skips them again;
    the one survey of the burst went out once."""
    store.add_sends([row(f"t{i}", closed=NOW - timedelta(hours=9 - 4 * i)) for i in range(3)])

    def killed(self: Store, rows: object) -> None:
        raise RuntimeError("killed before the batch's skips were written")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "settle_not_now", killed)
        with pytest.raises(RuntimeError, match="killed"):
            run(store, sink, [CSAT], now=NOW + timedelta(hours=1))
    assert store.counts(NOW + timedelta(hours=1)).get("sends.claimed") == 2
    result = run(store, sink, [CSAT], now=NOW + timedelta(hours=1, minutes=1))
    assert (result.sent, dict(result.skipped)) == (0, {"coalesced": 2})
    assert [m["Subject"][-9:] for m in sink.messages] == ["ticket t2"]
