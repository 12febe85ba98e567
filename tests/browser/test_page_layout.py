"""The response pages served by the real app (uvicorn on 127.0.0.1, a real SQLite store) in
Chromium at 320 to 1280 px: the comment page's scale is one row of equal buttons, no page is
wider than the screen, every page and error page wears the brand, the landing page without
script asks to confirm, and dark mode keeps everything readable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_layout import (
    POINTS,
    SCREENSHOTS,
    WIDTHS,
    assert_one_row,
    contrast,
    measure,
    routed_context,
    shot,
)

from closedloop.daemon.surveys import SurveyType

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    """One page, script off: the landing page must not post itself away from the test."""
    context = routed_context(browser, java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", list(SurveyType))
def test_comment_page_scale_is_one_row_at_every_width(
    page: Any, site: dict[str, str], kind: SurveyType, width: int
) -> None:
    """A grid with one equal column per score, end labels under the end buttons, from
    320 px (NPS wrapped 9 + 2 even at 1280 px before)."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(site[f"comment-{kind.value}"])
    scale = measure(page, ".scale button", ".ends span:first-child", ".ends span:last-child")
    assert_one_row(scale, POINTS[kind], width)
    shot(page, SCREENSHOTS, f"page-comment-{kind.value}-{width}")


PAGES = ("landing", "thanks", "unsubscribe", "error-invalid", "error-expired", "error-unknown")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_wears_the_brand(page: Any, site: dict[str, str],
                                             width: int) -> None:
    """No page is wider than the screen; each shows the logo (loaded, with its alt text),
    the brand colour on its card and the company's footer."""
    for name in PAGES:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(site[name])
        seen = page.evaluate("""() => ({
          page: document.documentElement.scrollWidth,
          logo: document.querySelector('header img')?.naturalWidth,
          alt: document.querySelector('header img')?.alt,
          border: getComputedStyle(document.querySelector('.card')).borderTopColor,
          footer: document.querySelector('footer').innerText})""")
        shot(page, SCREENSHOTS, f"page-{name}-{width}")
        assert seen["page"] <= width, name
        assert (seen["logo"], seen["alt"]) == (140, "Orbit Telecom"), name
        assert seen["border"] == "rgb(15, 118, 110)", name
        assert seen["footer"].startswith("Orbit Telecom SA\n12 Rue des Lilas"), name


@pytest.mark.parametrize(
    ("name", "heading", "forward"),
    [
        ("error-invalid", "This link is not valid", "Continue to orbit.example"),
        ("error-expired", "Cette enquête est close", "Continuer vers orbit.example"),
        ("error-unknown", "Page not found", "Continue to orbit.example"),
    ],
)
def test_error_pages_say_what_happened_and_offer_a_way_forward(
    page: Any, site: dict[str, str], name: str, heading: str, forward: str
) -> None:
    """Cut, expired and unknown links: what happened, in the person's language (the send's
    for an expired link, French here), a link to the company's site and its help address."""
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site[name])
    assert page.locator("h1").inner_text() == heading
    link = page.locator("a.button")
    assert (link.inner_text(), link.get_attribute("href")) == (forward,
                                                               "https://www.orbit.example")
    assert page.locator("a[href='mailto:help@orbit.example']").count() == 1


def test_landing_page_without_script_asks_to_confirm(page: Any, site: dict[str, str]) -> None:
    """Script off: the heading says "Confirm your answer" (not "Saving…") and shows the score
    as "9 out of 10" above the confirm button."""
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site["landing"])
    visible = [h.inner_text() for h in page.locator("h1").all() if h.is_visible()]
    assert visible == ["Confirm your answer"]
    assert page.locator(".score").inner_text() == "9 out of 10"
    assert page.locator("button[type=submit]").is_visible()


def test_thanks_page_says_out_of(page: Any, site: dict[str, str]) -> None:
    """The thank-you page reads "Your score: 9 out of 10"."""
    page.goto(site["thanks"])
    assert "Your score: 9 out of 10" in page.locator(".card").inner_text()


@pytest.mark.parametrize("name", ["comment-nps", "unsubscribe", "error-expired"])
def test_pages_in_dark_mode_stay_readable(browser: Any, site: dict[str, str], name: str) -> None:
    """With the browser in dark mode the card turns dark, text and labels stay at 4.5:1 or
    more, and a chosen score stays white on the brand colour."""
    context = routed_context(browser, color_scheme="dark", java_script_enabled=False,
                       viewport={"width": 414, "height": 900})
    page = context.new_page()
    try:
        page.goto(site[name])
        colors = page.evaluate("""() => {
          const css = (e) => getComputedStyle(e);
          const card = document.querySelector('.card');
          const texts = [...card.querySelectorAll('h1, p, legend, label, .ends span, button')];
          return {card: css(card).backgroundColor,
                  pairs: texts.filter(e => e.offsetParent !== null).map(e => [e.tagName,
                    css(e).color, css(e).backgroundColor])};
        }""")
        shot(page, SCREENSHOTS, f"page-{name}-dark")
    finally:
        context.close()
    assert colors["card"] == "rgb(31, 41, 55)"
    for tag, color, background in colors["pairs"]:
        behind = background if background not in ("rgba(0, 0, 0, 0)", "transparent") else (
            colors["card"])
        assert contrast(color, behind) >= 4.5, (tag, color, behind)




def test_unsubscribe_page_has_one_primary_and_one_secondary_choice(
    page: Any, site: dict[str, str]
) -> None:
    """"Unsubscribe" is the one filled button (the brand colour); the pause is an outlined
    secondary one, as wide, below it."""
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site["unsubscribe"])
    buttons = page.evaluate("""() => [...document.querySelectorAll('.card button')].map(b => {
      const r = b.getBoundingClientRect(), s = getComputedStyle(b);
      return [b.value, s.backgroundColor, Math.round(r.width), Math.round(r.top)]; })""")
    (first, filled, width1, top1), (second, outlined, width2, top2) = buttons
    assert (first, filled, second, outlined) == ("unsubscribe", "rgb(15, 118, 110)", "snooze",
                                                 "rgba(0, 0, 0, 0)")
    assert width1 == width2
    assert top2 > top1


def test_choose_then_undo_in_one_visit_at_320_px(page: Any, site: dict[str, str]) -> None:
    """On a small phone, without script: pause, see until when with an Undo, undo, and land
    on a page that says surveys may come again; every page fits the screen."""
    page.set_viewport_size({"width": 320, "height": 700})
    page.goto(site["unsubscribe"])
    page.locator("button[value=snooze]").click()
    assert page.locator("h1").inner_text() == "Surveys paused"
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    shot(page, SCREENSHOTS, "page-snoozed-320")
    page.locator("button[value=undo]").click()
    assert page.locator("h1").inner_text() == "Choice undone"
    assert "You may receive surveys from Orbit again." in page.locator(".card").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    shot(page, SCREENSHOTS, "page-undone-320")
    page.locator("a", has_text="Change your choice").click()
    assert page.locator("button[value=unsubscribe]").is_visible()
