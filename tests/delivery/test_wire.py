"""The DATA bytes of a mail (delivery/wire.py) are the stdlib generator's own: bodies
written in one piece instead of line by line must not change a byte."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from closedloop.daemon.delivery.compose import Sender, compose_survey
from closedloop.daemon.delivery.wire import data_bytes, message_bytes
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.tokens import TokenSigner

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
SIGNER = TokenSigner("secret", timedelta(days=30))
SENDER = Sender("survey@acme.example", "Acme Support", reply_to="help@acme.example")
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
NPS = Program("nps", SurveyType.NPS, "hubspot", timedelta(hours=1), "Æøå & Co",
              texts={"fr": {"intro": ".Une ligne qui commence par un point\nensuite " + "x" * 200}})


def _stdlib(msg: EmailMessage) -> bytes:
    """What smtp.py sent before wire.py: the stdlib generator with CRLF line ends."""
    raw = re.sub(rb"(?m)^\.", b"..", msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


@pytest.mark.parametrize(("program", "language", "first_name", "reminder"), [
    (CSAT, "en", "Ana", False), (CSAT, "nb", None, True), (NPS, "fr", "Zoé", False),
    (NPS, "de", "Jörg", True)])
def test_composed_mails_are_the_stdlib_bytes(program: Program, language: str,
                                             first_name: str | None, reminder: bool) -> None:
    """Surveys and reminders, CSAT and NPS, four languages, a program text starting with a
    dot and a 200-character line: the DATA bytes equal the stdlib generator's."""
    msg = compose_survey(program=program, send_id=42, to="ana@example.com",
                         first_name=first_name, language=language,
                         public_url="https://feedback.acme.example", signer=SIGNER,
                         sender=SENDER, unsubscribe_url="https://feedback.acme.example/u/x",
                         now=NOW, reminder=reminder, issued_at=NOW,
                         ticket_subject="Printer on fire")
    assert data_bytes(msg) == _stdlib(msg)
    if program is NPS and language == "fr":  # the dotted line and the long one are in it
        assert ".Une ligne" in str(msg.get_body(("plain",)).get_content())


@pytest.mark.parametrize("body", ["one line, no end", "ends with LF\n", "CR\rand CRLF\r\nmix\n",
                                  "\n\nleading blanks", "", ".dot\n..two\n"])
def test_any_body_line_ends_are_written_as_the_stdlib_writes_them(body: str) -> None:
    """Plain messages whose bodies end with and without a line end, with CR, LF and CRLF
    mixed, empty, or with dots at line starts: the same bytes as the stdlib's."""
    msg = EmailMessage()
    msg["Subject"] = "x"
    msg.set_payload(body)
    assert (message_bytes(msg), data_bytes(msg)) == (
        msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), _stdlib(msg))
