"""Surveys through a relay that cuts one connection (one mail) in six at a random step.

The issue's fault-injection figure was "19 of 300 surveys lost, 7 mails the relay had
accepted recorded as failed". Real store (SQLite and PostgreSQL), a real relay on 127.0.0.1
(cutting_relay.py), dispatch run every few minutes of a frozen clock until nothing is due.
120 surveys here; CLOSEDLOOP_CUT_SURVEYS=300 plays the issue's size (a benchmark's run).
Pinned: no survey lost (each one sent, or outcome_unknown), none failed, none mailed twice,
every 'sent' row really at the relay, every mail at the relay recorded sent or unknown.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage

import pytest
import structlog
import time_machine
from cutting_relay import CUTS, CuttingRelay

from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import dispatch_due
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
SURVEYS = int(os.environ.get("CLOSEDLOOP_CUT_SURVEYS", "120"))


def compose(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = "How did we do?"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?\n" + "Tell us more.\n" * 40)
    return msg


@pytest.mark.slow
def test_random_cuts_lose_no_survey_and_mail_none_twice(store: Store) -> None:
    rng = random.Random(13)
    cuts = [rng.choice(CUTS) if rng.random() < 1 / 6 else None for _ in range(2000)]
    store.add_sends([NewSend(idem_key=f"k{n}", program="csat", survey_type="csat",
                             source="hubspot", contact_id=str(n), due_at=NOW,
                             created_at=NOW - timedelta(hours=1), ticket_id=str(n),
                             email=f"p{n}@example.com") for n in range(SURVEYS)])
    at = NOW
    with CuttingRelay(cuts, payload_cut_after=200) as relay, structlog.testing.capture_logs():
        for _ in range(20):
            with time_machine.travel(at, tick=False):
                dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", relay.port,
                                                               max_per_connection=1,
                                                               local_hostname="relay.test",
                                                               timeout=10),
                             compose, at, policy=Policy())
            if not store.due_sends_until(at + timedelta(days=1)):
                break
            at += timedelta(minutes=5)
        delivered = Counter(str(message_from_bytes(m)["To"]) for m in relay.delivered)
        connections = relay.connections
    rows = [s for s in map(store.get_send, range(1, SURVEYS + 1)) if s is not None]
    by_status = Counter(r.status for r in rows)
    sent = {r.email for r in rows if r.status == "sent"}
    unknown = {r.email for r in rows if r.status == "outcome_unknown"}
    print(f"connections={connections} cut={sum(c is not None for c in cuts[:connections])} "
          f"status={dict(by_status)} unknown_but_delivered={len(unknown & set(delivered))}")
    assert [a for a, n in delivered.items() if n > 1] == []  # never twice
    assert by_status["sent"] + by_status["outcome_unknown"] == SURVEYS  # none lost or failed
    assert sent <= set(delivered)  # every send marked sent really left
    assert set(delivered) <= sent | unknown  # every mail the relay took is accounted for
