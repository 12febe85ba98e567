"""What a survey mail says around its question: the request it is about (CSAT, CES, from
the ticket subject stored with the send), why the person hears from the company (NPS), the
inbox preview line, and the footer's reason, in every language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from closedloop.daemon.delivery.compose import Sender, compose_mail, compose_survey
from closedloop.daemon.delivery.context import SUBJECT_LIMIT, shorten
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.tokens import TokenSigner

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIGNER = TokenSigner("secret", timedelta(days=30))
SENDER = Sender("survey@acme.example", "Acme Support")


def html_and_text(msg: EmailMessage) -> tuple[str, str]:
    parsed = message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
    assert html is not None
    assert text is not None
    return str(html.get_content()), str(text.get_content())


def compose(kind: SurveyType, language: str = "en", subject: str | None = None) -> EmailMessage:
    return compose_survey(
        program=Program(kind.value, kind, "hubspot", timedelta(hours=1), "Acme"), send_id=3,
        to="ana@example.test", first_name="Ana", language=language,
        public_url="https://f.acme.example", signer=SIGNER, sender=SENDER, now=NOW,
        ticket_subject=subject)


def test_shorten_keeps_short_subjects_and_cuts_long_ones_at_a_word() -> None:
    """Exactly the limit stays whole; one character more is cut at the last word with "…";
    blank or missing subjects give None."""
    exact = "x" * SUBJECT_LIMIT
    assert shorten(exact) == exact
    long = "word " * 20
    cut = shorten(long.strip())
    assert cut == ("word " * 13).strip() + "…"
    assert len(cut) <= SUBJECT_LIMIT
    assert shorten("  two\n lines ") == "two lines"
    assert shorten("   ") is None
    assert shorten(None) is None


CONTEXT = {
    "en": "About your request “Refund not received”",
    "fr": "À propos de votre demande «\u00a0Refund not received\u00a0»",
    "nb": "Gjelder henvendelsen din «Refund not received»",
    "de": "Zu Ihrer Anfrage „Refund not received“",
    "es": "Sobre su solicitud «Refund not received»",
}


@pytest.mark.parametrize("kind", [SurveyType.CSAT, SurveyType.CES])
@pytest.mark.parametrize(("language", "line"), CONTEXT.items())
def test_csat_and_ces_name_the_request_in_every_language(
    kind: SurveyType, language: str, line: str
) -> None:
    """The ticket subject, in the language's own quotes, in the text part, the HTML part and
    the hidden preheader that inboxes show beside the subject."""
    html, text = html_and_text(compose(kind, language, "Refund not received"))
    assert line in text.splitlines()
    assert f'<p class="cl-context" style="margin:0 0 16px 0;">{line}</p>' in html
    preheader = re.search(r'<div class="cl-preheader" style="display:none;[^"]*">([^&<]*)', html)
    assert preheader is not None
    assert preheader.group(1) == line


def test_subject_is_escaped_and_folded() -> None:
    """CRM text is data: markup in a subject is shown, never run; line breaks are folded."""
    html, text = html_and_text(compose(SurveyType.CSAT, subject='<img src=x onerror="a()">\r\nhi'))
    assert "&lt;img src=x onerror=&#34;a()&#34;&gt; hi" in html
    assert "<img" not in html
    assert "About your request “<img src=x onerror=\"a()\"> hi”" in text.splitlines()


def test_without_a_subject_the_mail_names_the_company() -> None:
    html, _ = html_and_text(compose(SurveyType.CES))
    assert "About your recent request to Acme" in html


def test_nps_says_why_the_person_hears_from_the_company() -> None:
    """NPS asks no ticket: it says why the question comes, and the footer why the mail
    does; French elides before the vowel of "Acme" in the footer."""
    html, text = html_and_text(compose(SurveyType.NPS))
    assert ("From time to time we ask our customers one question: your answer helps Acme "
            "decide what to improve.") in text.splitlines()
    assert "You receive this e-mail because you use the services of Acme." in html
    _, french = html_and_text(compose(SurveyType.NPS, "fr"))
    assert "Vous recevez cet e-mail parce que vous utilisez les services d’Acme." in french


def test_the_subject_stored_with_the_send_reaches_the_mail(tmp_path: Path) -> None:
    """compose_mail reads the subject the poller stored on the send row."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    store.add_sends([NewSend(
        idem_key="k", program="csat", survey_type="csat", source="hubspot", contact_id="c",
        due_at=NOW, created_at=NOW, ticket_id="t", email="ana@example.test",
        subject="Printer on fire")])
    row = store.get_send(1)
    store.dispose()
    assert row is not None
    program = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
    _, text = html_and_text(compose_mail(row, program, public_url="https://f.acme.example",
                                         signer=SIGNER, sender=SENDER, now=NOW))
    assert "About your request “Printer on fire”" in text.splitlines()
