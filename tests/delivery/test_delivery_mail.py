"""The mail as the relay receives it: sender identity, RFC 8058 headers, reminders, wording.

Real store (SQLite and PostgreSQL), the real dispatch job, the real composer and a real SMTP
server (the aiosmtpd sink): every assertion reads the message and envelope that arrived.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import time_machine

from closedloop.daemon.delivery.compose import Sender, compose_mail
from closedloop.daemon.delivery.message_ids import send_id_of
from closedloop.daemon.delivery.sink import LocalMailSink, Received
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import DispatchResult, dispatch_due
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.web.tokens import Purpose, TokenSigner

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday, 10:00 UTC
URL = "https://feedback.acme.example"
SIGNER = TokenSigner("secret", timedelta(days=30))
SENDER = Sender("survey@acme.example", "Acme Support", reply_to="help@acme.example")
BOUNCES = "bounces@mail.acme.example"
NPS = Program("nps", SurveyType.NPS, "hubspot", timedelta(hours=1), "Acme",
              reminders=(timedelta(days=3),))
POLICY = Policy(quiet_start=None, quiet_end=None)


@pytest.fixture
def sink() -> Iterator[LocalMailSink]:
    with LocalMailSink() as mail:
        yield mail


def new_send(key: str, email: str = "ana@example.com", **fields: Any) -> NewSend:
    values: dict[str, object] = {
        "idem_key": key, "program": NPS.name, "survey_type": "nps", "source": "hubspot",
        "contact_id": f"c-{key}", "due_at": NOW - timedelta(minutes=1), "created_at": NOW,
        "email": email, "first_name": "Ana", "language": "en",
    }
    values.update(fields)
    return NewSend(**values)  # type: ignore[arg-type]


def dispatch(store: Store, sink: LocalMailSink, now: datetime, program: Program = NPS,
             fallback: str = "en") -> DispatchResult:
    def compose(row: SendRecord, prog: Program, at: datetime) -> EmailMessage:
        return compose_mail(row, prog, public_url=URL, signer=SIGNER, sender=SENDER,
                            fallback_language=fallback, now=at)

    mailer = SmtpSender("127.0.0.1", sink.port, envelope_from=BOUNCES)
    with time_machine.travel(now, tick=False):
        return dispatch_due(store, {program.name: program}, mailer, compose, now,
                            policy=replace(POLICY, fallback_language=fallback))


def tokens(msg: EmailMessage) -> set[int]:
    """Every send id that a link in the message (text and HTML, scores and unsubscribe) names."""
    found: set[int] = set()
    for part in ("plain", "html"):
        body = msg.get_body((part,))
        assert body is not None
        text = body.get_content()
        for kind, token in re.findall(rf"{re.escape(URL)}/([ru])/([\w.-]+)", text):
            purpose = Purpose.ANSWER if kind == "r" else Purpose.UNSUBSCRIBE
            found.add(SIGNER.read(token, purpose=purpose))
    return found


def unsubscribe_token(msg: EmailMessage) -> int:
    # A long header is folded before the "<"; the folding whitespace is not part of it.
    header = msg["List-Unsubscribe"].strip()
    match = re.fullmatch(rf"<{re.escape(URL)}/u/([\w.-]+)>", header)
    assert match is not None
    return SIGNER.read(match.group(1), purpose=Purpose.UNSUBSCRIBE)


def survey_then_reminder(store: Store, sink: LocalMailSink,
                         program: Program = NPS, **fields: Any) -> tuple[Received, Received]:
    store.add_sends([new_send("t1", **fields)])
    assert dispatch(store, sink, NOW, program).sent == 1
    assert dispatch(store, sink, NOW + timedelta(days=3), program).sent == 1
    survey, reminder = sink.received
    return survey, reminder


def test_envelope_sender_is_the_bounce_address_and_headers_name_the_company(
        store: Store, sink: LocalMailSink) -> None:
    """MAIL FROM (the Return-Path) is the bounce address; From, Reply-To and the Message-ID
    domain are the customer's own; the Message-ID names the send and is what the store kept."""
    store.add_sends([new_send("t1")])
    dispatch(store, sink, NOW)
    [got] = sink.received
    sent = store.get_send(1)
    assert sent is not None
    assert got.mail_from == BOUNCES
    assert got.rcpt_tos == ("ana@example.com",)
    msg = got.message
    assert msg["From"] == "Acme Support <survey@acme.example>"
    assert msg["Reply-To"] == "help@acme.example"
    assert msg["Return-Path"] is None  # the receiving MTA writes it from MAIL FROM
    assert re.fullmatch(r"<cl\.1\.[0-9a-f]{16}@acme\.example>", msg["Message-ID"])
    assert msg["Message-ID"] == sent.message_id
    assert send_id_of(msg["Message-ID"]) == 1


def test_without_a_bounce_address_the_envelope_is_the_from_address(sink: LocalMailSink) -> None:
    """No envelope_from configured: MAIL FROM falls back to the message's From address."""
    msg = EmailMessage()
    msg["From"] = "Acme <survey@acme.example>"
    msg["To"] = "ana@example.com"
    msg.set_content("hi")
    SmtpSender("127.0.0.1", sink.port).send(msg)
    assert [r.mail_from for r in sink.received] == ["survey@acme.example"]


def test_survey_and_reminder_both_carry_one_click_unsubscribe(
        store: Store, sink: LocalMailSink) -> None:
    """RFC 8058 on every mail: List-Unsubscribe is an https URL, List-Unsubscribe-Post says
    One-Click, and both name the survey (the web app's POST /u/<token> unsubscribes)."""
    survey, reminder = survey_then_reminder(store, sink)
    for got in (survey, reminder):
        assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe_token(got.message) == 1


def test_reminder_has_its_own_subject_and_intro_and_answers_the_survey(
        store: Store, sink: LocalMailSink) -> None:
    """The reminder says it is one, and every link carries the survey's token (send 1), so an
    answer lands on the original survey; its own Message-ID names the reminder row (2)."""
    survey, reminder = survey_then_reminder(store, sink)
    assert survey.message["Subject"] == "Ana, a quick question from Acme"
    assert reminder.message["Subject"] == "A reminder from Acme"
    body = reminder.message.get_body(("plain",))
    assert body is not None
    lines = body.get_content().splitlines()
    assert lines[:4] == ["Hello Ana,", "", "We would still love to hear from you.", ""]
    assert "How likely are you to recommend Acme to a friend or colleague?" in lines
    assert tokens(reminder.message) == {1}
    assert tokens(survey.message) == {1}
    assert send_id_of(reminder.message["Message-ID"]) == 2
    assert reminder.mail_from == BOUNCES


def test_the_survey_itself_has_no_reminder_line(store: Store, sink: LocalMailSink) -> None:
    """Without an `intro` override, the first mail goes straight from greeting to question."""
    survey, _ = survey_then_reminder(store, sink)
    body = survey.message.get_body(("plain",))
    assert body is not None
    assert "We would still love to hear from you." not in body.get_content()


def test_reminder_in_the_contacts_language(store: Store, sink: LocalMailSink) -> None:
    """A French contact gets the French reminder subject and opening line."""
    _, reminder = survey_then_reminder(store, sink, language="fr-FR")
    assert reminder.message["Subject"] == "Un rappel de la part d’Acme"
    assert reminder.message["Content-Language"] == "fr"
    body = reminder.message.get_body(("plain",))
    assert body is not None
    assert "Votre avis nous intéresse toujours." in body.get_content()


def test_program_texts_override_the_catalog_per_language(
        store: Store, sink: LocalMailSink) -> None:
    """A program's French texts replace subject, intro, question, reminder subject and intro
    for French contacts, with {first_name} and {company} filled; English ones keep the
    catalog's wording."""
    fr = {
        "subject": "{first_name}, votre avis sur {company}",
        "intro": "Merci d'être client depuis si longtemps.",
        "question": "Recommanderiez-vous {company} ?",
        "reminder_subject": "Petit rappel, {first_name}",
        "reminder_intro": "Il n'est pas trop tard.",
    }
    program = replace(NPS, texts={"fr": fr})
    store.add_sends([new_send("t1", language="fr"), new_send("t2", "bob@example.com")])
    dispatch(store, sink, NOW, program)
    dispatch(store, sink, NOW + timedelta(days=3), program)
    by_key = {(r.rcpt_tos[0], r.message["Subject"]): r.message for r in sink.received}
    assert sorted(by_key) == [
        ("ana@example.com", "Ana, votre avis sur Acme"),
        ("ana@example.com", "Petit rappel, Ana"),
        ("bob@example.com", "A reminder from Acme"),
        ("bob@example.com", "Ana, a quick question from Acme"),
    ]
    french = by_key[("ana@example.com", "Ana, votre avis sur Acme")].get_body(("html",))
    assert french is not None
    html = french.get_content()
    assert "Merci d&#39;être client depuis si longtemps." in html  # escaped like all text
    assert "Recommanderiez-vous Acme ?</h1>" in html
    reminder = by_key[("ana@example.com", "Petit rappel, Ana")].get_body(("plain",))
    assert reminder is not None
    assert "Il n'est pas trop tard." in reminder.get_content()


def test_unknown_language_uses_the_fallback_language_and_its_overrides(
        store: Store, sink: LocalMailSink) -> None:
    """A contact in a language without a catalog gets the configured fallback (German here),
    including the program's German texts."""
    program = replace(NPS, texts={"de": {"intro": "Hallo von {company}."}})
    store.add_sends([new_send("t1", language="ja")])
    dispatch(store, sink, NOW, program, fallback="de")
    [got] = sink.messages
    assert got["Content-Language"] == "de"
    body = got.get_body(("plain",))
    assert body is not None
    assert "Hallo von Acme." in body.get_content()


def test_override_with_line_breaks_cannot_inject_headers(
        store: Store, sink: LocalMailSink) -> None:
    """A configured subject (or a CRM first name) with CR/LF stays one Subject header."""
    program = replace(NPS, texts={"en": {"subject": "Hi {first_name}\r\nBcc: x@evil.test"}})
    store.add_sends([new_send("t1", first_name="Ana\nCc: y@evil.test")])
    dispatch(store, sink, NOW, program)
    [got] = sink.received
    assert got.message["Subject"] == "Hi Ana Cc: y@evil.test Bcc: x@evil.test"
    assert (got.message["Bcc"], got.message["Cc"], got.rcpt_tos) == (
        None, None, ("ana@example.com",))


def test_a_reloaded_program_is_not_served_from_the_cache() -> None:
    """The per-program cache is keyed by name but checked by identity: a config reload with
    new texts for the same program name takes effect at once."""
    row = SendRecord(
        id=5, idem_key="k", program="nps", survey_type="nps", source="hubspot", ticket_id=None,
        contact_id="c", email="ana@example.com", first_name=None, language="en", owner_id=None,
        team_id=None, pipeline=None, subject=None, closed_at=None, created_at=NOW, due_at=NOW,
        status="claimed", skip_reason=None, claimed_until=None, attempts=0, last_error=None,
        sent_at=None, message_id=None)

    def subject(program: Program) -> str:
        return str(compose_mail(row, program, public_url=URL, signer=SIGNER, sender=SENDER,
                                now=NOW)["Subject"])

    assert subject(NPS) == "A quick question from Acme"
    assert subject(replace(NPS, texts={"en": {"subject": "New words"}})) == "New words"
    assert subject(replace(NPS, company="Acme Corp")) == "A quick question from Acme Corp"
