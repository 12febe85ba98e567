"""Mails built from what is prepared once (memoized constant headers, a fixed boundary) are
the mails the stdlib builds: same bytes, and a body that holds the boundary still parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy

from closedloop.daemon.delivery import mime
from closedloop.daemon.delivery.compose import POLICY, Sender, compose_survey
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.tokens import TokenSigner

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIGNER = TokenSigner("secret", timedelta(days=30))
SENDER = Sender("survey@acme.example", "Acme Support", reply_to="help@acme.example")
PROGRAM = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")


def mail(first_name: str, language: str = "fr", send_id: int = 7) -> EmailMessage:
    return compose_survey(program=PROGRAM, send_id=send_id, to="ana@example.test",
                          first_name=first_name, language=language,
                          public_url="https://feedback.acme.example", signer=SIGNER,
                          sender=SENDER, now=NOW, ticket_subject="Café « spécial »")


def test_memoized_headers_serialize_as_the_stdlib_policy_does() -> None:
    """The second and third mails reuse parsed and folded headers; their bytes equal what
    the stdlib's SMTP policy writes for the same message, in two languages."""
    for first_name, language in (("Ana", "fr"), ("Bo", "fr"), ("Åse", "nb")):
        msg = mail(first_name, language)
        assert msg.as_bytes(policy=SMTP) == msg.as_bytes(policy=POLICY.clone(linesep="\r\n"))


def test_the_fixed_boundary_is_used_when_no_body_line_holds_it() -> None:
    """An ordinary mail carries the process's fixed boundary."""
    msg = mail("Ana")
    assert msg.get_boundary() == mime.BOUNDARY


def test_a_body_holding_the_boundary_gets_one_of_its_own() -> None:
    """A name that holds the boundary line leaves the choice to the generator: another
    boundary, and the parsed mail still has both parts with the name in the text."""
    line = mime.BOUNDARY_LINE
    msg = mail(line)
    parsed = message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_boundary() != mime.BOUNDARY
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    assert line in text.get_content()
