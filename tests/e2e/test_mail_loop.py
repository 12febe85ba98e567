"""The mail side of the whole loop, for each CRM: reminders, the sender, bounces.

The runtime as `closedloop run` wires it (composer, SMTP sender, bounce reader), a sandbox
CRM, the SMTP sink, the response pages over HTTP and a real Maildir for bounce reports.
"""

from __future__ import annotations

import mailbox
import re
from datetime import timedelta
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_loop import Loop

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


@pytest.fixture
def loop_options() -> dict[str, Any]:
    return {"reminders": ["3d"]}


def links_in(msg: EmailMessage) -> dict[int, str]:
    body = msg.get_body(("plain",))
    assert body is not None
    return {int(score): url for url, score in LINK.findall(body.get_content())}


def hard_bounce_report(original: EmailMessage) -> bytes:
    """What the recipient's MTA sends back to the envelope sender: failed, 5.1.1."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.com"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("Your message could not be delivered."))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.com"
    per_recipient["Final-Recipient"] = f"rfc822; {original['To']}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    status = MIMEBase("message", "delivery-status")
    status.set_payload([per_message, per_recipient])
    report.attach(status)
    report.attach(MIMEMessage(original))
    return report.as_bytes()


def test_reminder_goes_in_the_contacts_language_and_its_click_answers_the_survey(
        loop: Loop) -> None:
    """Survey, then three days later a French reminder from the same sender; a click in the
    reminder records the answer on the original survey, and the CRM gets it."""
    _, contact = loop.close_ticket("lea@example.com", first="Léa", language="fr")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    loop.clock.advance(timedelta(days=3))
    assert loop.rt.dispatch().sent == 1

    survey, reminder = loop.sink.received
    assert reminder.message["Subject"] == "Un rappel de la part d’Acme"
    assert reminder.mail_from == survey.mail_from == "feedback@acme.example"
    assert reminder.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert links_in(reminder.message) == links_in(survey.message)  # the survey's token

    with httpx.Client(follow_redirects=True, timeout=10) as web:
        assert web.post(links_in(reminder.message)[5]).status_code == 200
    answer = loop.rt.store.get_response(1)
    assert answer is not None
    assert answer.score == 5
    loop.rt.write_back()
    assert loop.props(contact)["cl_csat_last_rating"] == "5"


def test_hard_bounce_report_suppresses_the_address_for_every_program(
        loop: Loop, tmp_path: Path) -> None:
    """A DSN for the survey lands in the bounce Maildir: the reader suppresses the address,
    so the reminder and the next ticket's survey are skipped, whichever program."""
    maildir = tmp_path / "bounces"
    mailbox.Maildir(maildir, create=True)
    # The config is frozen; the reader takes the Maildir from it on every run.
    mail = loop.rt.config.mail.model_copy(update={"bounce_maildir": maildir})
    loop.rt.config = loop.rt.config.model_copy(update={"mail": mail})

    _, contact = loop.close_ticket("gone@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    [survey] = loop.sink.messages
    mailbox.Maildir(maildir, create=False).add(hard_bounce_report(survey))

    result = loop.rt.process_bounces()
    assert result is not None
    assert (result.read, result.suppressed) == (1, 1)

    loop.close_ticket(None, contact=contact, pipeline=loop.crm.billing)
    loop.rt.poll()
    loop.clock.advance(timedelta(days=3))
    dispatched = loop.rt.dispatch()
    assert (dispatched.sent, dict(dispatched.skipped)) == (0, {"suppressed": 2})
    assert len(loop.sink.messages) == 1


def test_one_click_unsubscribe_from_the_header_stops_the_reminder(loop: Loop) -> None:
    """A mail client's RFC 8058 POST to the List-Unsubscribe URL (no page, no cookie) is
    enough: the address is suppressed and the reminder never goes."""
    loop.close_ticket("ida@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    [survey] = loop.sink.messages
    header = survey["List-Unsubscribe"].strip()
    assert header.startswith("<http://127.0.0.1:")
    with httpx.Client(timeout=10) as client:
        answer = client.post(header.strip("<>"), content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    assert loop.rt.store.is_suppressed("ida@example.com", loop.clock.now)
    loop.clock.advance(timedelta(days=3))
    dispatched = loop.rt.dispatch()
    assert (dispatched.sent, dict(dispatched.skipped)) == (0, {"suppressed": 1})
