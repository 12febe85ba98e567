"""Redaction hides e-mail addresses by their value and secrets by their key, and nothing else:
a count whose key says "email" (skipped_no_email=3) is printed as the number it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import dispatch_due
from closedloop.daemon.logging import configure, get_logger
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType


def logged(capsys: pytest.CaptureFixture[str], **fields: Any) -> dict[str, Any]:
    configure("json")
    get_logger(job="test").info("redaction.check", **fields)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event: dict[str, Any] = json.loads(line)
    return {k: v for k, v in event.items() if k in fields}


def test_counts_named_after_email_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """Numbers under keys that say email, token or password are counts, not secrets."""
    fields = {"skipped_no_email": 3, "emails_sent": 0, "email_count": 12, "tokens_checked": 2,
              "password_resets": 1.5, "has_email": True, "email": None}
    assert logged(capsys, **fields) == fields


def test_addresses_are_masked_wherever_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    """An address is masked under any key, inside a longer string, in lists, tuples and nested
    dicts, and as a dict key."""
    assert logged(
        capsys, email="ada@example.com", contact="Ada <ada@example.com>",
        error="550 5.1.1 <bo.b+tag@mail.example.org>: no such user",
        people=["cy@example.net", "no address here"], pair=("dee@example.com", 4),
        nested={"rows": [{"to": "eve@example.com", "n": 1}]}, by_person={"fay@example.com": 2},
    ) == {
        "email": "[email]", "contact": "Ada <[email]>",
        "error": "550 5.1.1 <[email]>: no such user",
        "people": ["[email]", "no address here"], "pair": ["[email]", 4],
        "nested": {"rows": [{"to": "[email]", "n": 1}]}, "by_person": {"[email]": 2},
    }


def test_what_is_not_an_address_stays(capsys: pytest.CaptureFixture[str]) -> None:
    """The other side: an @handle, "user at example dot com", a hash and a domain are kept."""
    fields = {"who": "@ada", "said": "write to ada at example dot com", "domain": "example.com",
              "person": "sha256:9f86d081884c7d65", "email": "no-address"}
    assert logged(capsys, **fields) == fields


def test_secret_named_keys_are_hidden_whatever_their_value(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Tokens, secrets, passwords, authorization headers and API keys by key name, nested too;
    a bearer token inside any string."""
    assert logged(
        capsys, token="pat-na1-abc", secret_key="s3cr3t", smtp_password="hunter2",
        api_key="k-123", apikey="k-456", headers={"Authorization": "Basic YWJj", "Accept": "*/*"},
        cookie="session=abc", detail="sent Authorization: Bearer pat-na1-xyz",
        token_list=["a", "b"],
    ) == {
        "token": "[redacted]", "secret_key": "[redacted]", "smtp_password": "[redacted]",
        "api_key": "[redacted]", "apikey": "[redacted]",
        "headers": {"Authorization": "[redacted]", "Accept": "*/*"}, "cookie": "[redacted]",
        "detail": "sent Authorization: Bearer [redacted]", "token_list": "[redacted]",
    }


def test_the_dispatch_summary_shows_its_no_email_count(
        store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """The reported line: dispatch.done with skipped_no_email prints the number (real dispatch,
    real SMTP sink), and the address of the person who was mailed is nowhere in the log."""
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    program = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
    store.add_sends([NewSend(idem_key=f"csat:hubspot:ticket:{n}", program="csat",
                             survey_type="csat", source="hubspot", contact_id=f"c{n}",
                             ticket_id=str(n), email=email, due_at=now, created_at=now)
                     for n, email in enumerate(["", "", "", "gus@example.com"])])

    def compose(row: SendRecord, program: Program, at: datetime) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "f@acme.example", row.email or "", "Survey"
        msg.set_content("How did we do?")
        return msg

    configure("json")
    capsys.readouterr()
    with LocalMailSink() as sink:
        dispatch_due(store, {"csat": program}, SmtpSender("127.0.0.1", sink.port), compose, now,
                     policy=Policy(quiet_start=None, quiet_end=None))
    err = capsys.readouterr().err
    [done] = [json.loads(line) for line in err.splitlines() if '"dispatch.done"' in line]
    assert (done["sent"], done["skipped_no_email"]) == (1, 3)
    assert "gus@example.com" not in err
