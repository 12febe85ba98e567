"""The survey e-mail: parts, links, languages, headers and escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from closedloop.daemon.delivery.compose import Sender, compose_survey
from closedloop.daemon.surveys import SCALES, Program, SurveyType
from closedloop.daemon.web.tokens import TokenSigner

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIGNER = TokenSigner("secret", timedelta(days=30))
SENDER = Sender("survey@acme.example", "Acme Support", reply_to="help@acme.example")
URL = "https://feedback.acme.example"


def program(kind: SurveyType, company: str = "Acme") -> Program:
    return Program(kind.value, kind, "hubspot", timedelta(hours=1), company)


def compose(kind: SurveyType = SurveyType.NPS, **overrides: object) -> EmailMessage:
    args: dict[str, object] = {
        "program": program(kind),
        "send_id": 41,
        "to": "ana@example.test",
        "first_name": "Ana",
        "language": "en",
        "public_url": URL + "/",
        "signer": SIGNER,
        "sender": SENDER,
        "now": NOW,
    }
    args.update(overrides)
    return compose_survey(**args)  # type: ignore[arg-type]


def parts(msg: EmailMessage) -> tuple[str, str]:
    """The text and HTML bodies, read back through a parse of the wire bytes (CRLF -> LF)."""
    parsed = message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def test_message_is_multipart_alternative_text_then_html() -> None:
    """Clients show the last part they understand: plain text first, HTML last."""
    msg = compose()
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize("kind", list(SurveyType))
def test_every_score_has_a_link_in_both_parts(kind: SurveyType) -> None:
    """Each point of the scale links to {public_url}/r/<token>/<score>, in text and in HTML,
    and every token reads back as this send."""
    text, html = parts(compose(kind))
    pattern = rf"{re.escape(URL)}/r/([A-Za-z0-9_.-]+)/([0-9]+)"
    text_links = re.findall(rf"^[0-9]+: {pattern}$", text, flags=re.MULTILINE)
    html_links = re.findall(rf'href="{pattern}"', html)
    points = [str(s) for s in SCALES[kind].points]
    assert points == [score for _, score in text_links]
    assert points == [score for _, score in html_links]
    assert {41} == {SIGNER.read(token) for token, _ in text_links + html_links}


def test_each_html_button_has_an_aria_label_and_the_ends_are_named() -> None:
    """Screen readers hear "0 out of 10, Not at all likely" rather than a bare digit."""
    _, html = parts(compose(SurveyType.NPS))
    labels = re.findall(r'aria-label="([^"]+)"', html)
    assert len(labels) == 11
    assert labels[0] == "0 out of 10, Not at all likely"
    assert labels[5] == "5 out of 10"
    assert labels[-1] == "10 out of 10, Extremely likely"


def test_html_is_table_layout_with_bulletproof_buttons_and_no_external_assets() -> None:
    """Buttons are <a> in a <td bgcolor>; no script, stylesheet link or form; no image to
    fetch unless a logo is configured; the one <style> is the dark-mode media query."""
    _, html = parts(compose(SurveyType.CSAT))
    assert len(re.findall(r'<td align="center"[^>]* bgcolor="#1d4ed8"[^>]*>\s*<a href=', html)) == 5
    for forbidden in ("<script", "<link", "<img", "<form"):
        assert forbidden not in html.lower()
    assert html.count("<style>") == 1
    assert "@media (prefers-color-scheme: dark)" in html


def test_english_text_part() -> None:
    """Greeting by first name, the standard question, the scale ends and the links."""
    text, _ = parts(compose(SurveyType.NPS))
    lines = text.splitlines()
    assert lines[0] == "Hello Ana,"
    assert "How likely are you to recommend Acme to a friend or colleague?" in lines
    assert "Choose a score (0 = Not at all likely, 10 = Extremely likely):" in lines


def test_french_mail() -> None:
    """A contact whose language is fr-CA gets the French subject, question and labels."""
    msg = compose(SurveyType.CSAT, language="fr-CA")
    text, html = parts(msg)
    assert msg["Subject"] == "Ana, qu\u2019avez-vous pensé de notre aide\u00a0?"
    assert msg["Content-Language"] == "fr"
    assert text.splitlines()[0] == "Bonjour Ana,"
    question = "Comment jugez-vous l\u2019assistance reçue de la part d\u2019Acme\u00a0?"
    assert question in text
    assert "Très insatisfaisante" in html
    assert "Très satisfaisante" in html
    assert '<html lang="fr"' in html


def test_unknown_language_falls_back_to_english() -> None:
    """A language without a catalog still gets a mail, in English."""
    msg = compose(language="ja-JP")
    assert msg["Content-Language"] == "en"


@pytest.mark.parametrize(
    ("kind", "first_name", "subject"),
    [
        (SurveyType.NPS, "Ana", "Ana, a quick question from Acme"),
        (SurveyType.NPS, None, "A quick question from Acme"),
        (SurveyType.CSAT, "Ana", "How did we do, Ana?"),
        (SurveyType.CES, None, "How did Acme do?"),
    ],
)
def test_subject(kind: SurveyType, first_name: str | None, subject: str) -> None:
    """NPS asks about the company; CSAT/CES about the case; the name only when known."""
    assert subject == compose(kind, first_name=first_name)["Subject"]


def test_greeting_without_a_first_name() -> None:
    """No name: a plain greeting, never "Hello None"."""
    text, html = parts(compose(first_name=None))
    assert text.splitlines()[0] == "Hello,"
    assert "None" not in text
    assert "None" not in html


def test_headers() -> None:
    """From, Reply-To, Date, a Message-ID at our domain, and the auto-reply suppressors."""
    msg = compose()
    assert msg["From"] == "Acme Support <survey@acme.example>"
    assert msg["To"] == "ana@example.test"
    assert msg["Reply-To"] == "help@acme.example"
    assert msg["Date"] == "Mon, 02 Mar 2026 09:00:00 +0000"
    assert re.fullmatch(r"<[^@<>]+@acme\.example>", msg["Message-ID"])
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["List-Unsubscribe"] is None


def test_message_ids_are_unique() -> None:
    """Two mails never share a Message-ID (threading and dedup in clients rely on it)."""
    assert compose()["Message-ID"] != compose()["Message-ID"]


def test_unsubscribe_link_and_one_click_headers() -> None:
    """With an unsubscribe URL: a footer link in both parts and RFC 8058 headers."""
    unsub = f"{URL}/u/xyz"
    msg = compose(unsubscribe_url=unsub)
    text, html = parts(msg)
    assert f"<{unsub}>" == msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsub in text
    assert f'href="{unsub}"' in html


def test_html_escapes_company_and_first_name() -> None:
    """Markup in CRM data or config comes out as text in the HTML part, never as markup."""
    evil = program(SurveyType.NPS, company='<script>alert("x")</script>')
    text, html = parts(compose(program=evil, first_name="<img src=x onerror=alert(1)>"))
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Hello &lt;img src=x onerror=alert(1)&gt;," in html
    assert "Hello <img src=x onerror=alert(1)>," in text  # plain text shows it as typed


def test_line_breaks_in_a_first_name_cannot_inject_headers() -> None:
    """CR/LF in CRM data is folded to spaces before it reaches the Subject header."""
    msg = compose(SurveyType.CSAT, first_name="Ana\r\nBcc: victim@example.test")
    assert msg["Subject"] == "How did we do, Ana Bcc: victim@example.test?"
    assert msg["Bcc"] is None


def test_composed_message_serializes_with_crlf_and_short_lines() -> None:
    """The wire form uses CRLF and stays under SMTP's 998-octet line limit."""
    wire = compose().as_bytes()
    lines = wire.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 998
