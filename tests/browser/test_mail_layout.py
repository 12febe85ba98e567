"""The survey mails in Chromium at phone to desktop widths: each scale is one row of equal
buttons with the end labels under the end buttons, and nothing is wider than the screen.

The mails are composed for real (compose_mail on a stored send, in several languages) and
their HTML part is loaded into the page as a mail client's web view would show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from browser_layout import (
    LOGO_SVG,
    LOGO_URL,
    POINTS,
    PROGRAMS,
    SCREENSHOTS,
    WIDTHS,
    assert_one_row,
    contrast,
    measure,
    shot,
)

from closedloop.daemon.delivery.compose import Sender, compose_mail
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import SurveyType
from closedloop.daemon.web.tokens import TokenSigner

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIGNER = TokenSigner("browser-secret", timedelta(days=30))
SENDER = Sender("survey@orbit.example", "Orbit Support", reply_to="help@orbit.example")
pytestmark = pytest.mark.browser
SUBJECT = "My router keeps dropping the connection every evening since the firmware update"


def _html(msg: EmailMessage) -> str:
    parsed = message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("html",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture(scope="module")
def mails(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[SurveyType, str], str]:
    """The HTML of each survey type in English and French, from sends stored with a subject."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('mail') / 'state.db'}")
    store.migrate()
    out: dict[tuple[SurveyType, str], str] = {}
    n = 0
    for kind in SurveyType:
        for language in ("en", "fr"):
            n += 1
            store.add_sends([NewSend(
                idem_key=f"k{n}", program=kind.value, survey_type=kind.value, source="hubspot",
                contact_id=f"c{n}", due_at=NOW, created_at=NOW, ticket_id=f"t{n}",
                email="ana@example.test", first_name="Ana", language=language, subject=SUBJECT,
            )])
            row = store.get_send(n)
            assert row is not None
            msg = compose_mail(row, PROGRAMS[kind.value], public_url="https://feedback.orbit.example",
                               signer=SIGNER, sender=SENDER, now=NOW)
            out[(kind, language)] = _html(msg)
    store.dispose()
    return out


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    """One page for every mail; the logo URL answers with a local SVG (no network)."""
    context = browser.new_context()
    context.route(LOGO_URL, lambda route: route.fulfill(body=LOGO_SVG,
                                                        content_type="image/svg+xml"))
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", list(SurveyType))
def test_mail_scale_is_one_row_at_every_width(
    page: Any, mails: dict[tuple[SurveyType, str], str], kind: SurveyType, width: int
) -> None:
    """NPS (11), CES (7) and CSAT (5) buttons share one row from 320 to 1280 px, in English
    and in French (longer labels); the screenshots land in build/screenshots/."""
    for language in ("en", "fr"):
        page.set_viewport_size({"width": width, "height": 900})
        page.set_content(mails[(kind, language)], wait_until="load")
        scale = measure(page, "a.cl-button", "td.cl-low", "td.cl-high")
        assert_one_row(scale, POINTS[kind], width)
        shot(page, SCREENSHOTS, f"mail-{kind.value}-{language}-{width}")


def test_mail_shows_the_logo_the_request_and_the_footer(
    page: Any, mails: dict[tuple[SurveyType, str], str]
) -> None:
    """The logo loads at its configured size; the CSAT mail names the shortened ticket
    subject; the footer holds the reason, the company's address and the privacy link."""
    page.set_viewport_size({"width": 375, "height": 900})
    page.set_content(mails[(SurveyType.CSAT, "en")], wait_until="load")
    logo = page.locator("img").first
    assert (round(logo.bounding_box()["width"]), round(logo.bounding_box()["height"])) == (140, 36)
    assert page.evaluate("document.querySelector('img').naturalWidth") == 140
    assert page.locator(".cl-context").inner_text() == (
        "About your request “My router keeps dropping the connection every evening since the…”")
    footer = page.locator(".cl-footer").inner_text()
    assert "You receive this e-mail because you recently contacted Orbit Telecom SA." in footer
    assert "12 Rue des Lilas\n75011 Paris\nFrance" in footer
    assert page.locator(".cl-footer a", has_text="Privacy policy").get_attribute("href") == (
        "https://acme.example/privacy")


@pytest.mark.parametrize("kind", list(SurveyType))
def test_mail_in_dark_mode_stays_readable(
    browser: Any, mails: dict[tuple[SurveyType, str], str], kind: SurveyType
) -> None:
    """With the reader's system in dark mode, the card turns dark and its text light
    (contrast of at least 4.5:1), and the buttons keep white on the brand colour."""
    context = browser.new_context(color_scheme="dark", viewport={"width": 414, "height": 900})
    context.route(LOGO_URL, lambda route: route.fulfill(body=LOGO_SVG,
                                                        content_type="image/svg+xml"))
    page = context.new_page()
    try:
        page.set_content(mails[(kind, "en")], wait_until="load")
        colors = page.evaluate("""() => {
          const style = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
          return {card: style('.cl-card', 'backgroundColor'), text: style('.cl-text', 'color'),
                  title: style('.cl-title', 'color'), footer: style('.cl-footer', 'color'),
                  bg: style('body', 'backgroundColor'),
                  button: style('a.cl-button', 'color'),
                  buttonBg: getComputedStyle(document.querySelector('a.cl-button')
                                             .parentElement).backgroundColor};
        }""")
        shot(page, SCREENSHOTS, f"mail-{kind.value}-dark")
    finally:
        context.close()
    assert colors["card"] == "rgb(31, 41, 55)"
    assert contrast(colors["text"], colors["card"]) >= 4.5
    assert contrast(colors["title"], colors["card"]) >= 4.5
    assert contrast(colors["footer"], colors["bg"]) >= 4.5
    assert contrast(colors["button"], colors["buttonBg"]) >= 4.5
