"""The widget in a real headless Chromium (Debian's, through the session's Playwright driver),
embedded in a small single-page app on another origin under a strict Content-Security-Policy
(script, style and connect only from 'self' and the daemon; no inline, no eval).

Pinned: a route change (history.pushState, no reload) brings the survey once the person is
due; the answer lands in the store and is queued for the write-back; afterwards no card
on the next route change nor on a reload; "Not now" holds; a forged identity gets nothing;
a person mailed a survey this week is not asked; no cookie, no CSP violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS
from spa_server import Spa
from sqlalchemy import select
from widget_support import (
    NOW,
    POLICY,
    PROGRAMS,
    Clock,
    People,
    identity,
    running,
    site,
)

from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Base
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.tokens import TokenSigner
from closedloop.daemon.web.widget.router import widget_router

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SENDS = Base.metadata.tables["sends"]
WRITEBACKS = Base.metadata.tables["writebacks"]
CHECK = "/widget/v1/acme/check"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"  # gitignored
CARD = "[data-closedloop] .cl-card"
SETTLE_MS = 300  # after a check's answer: the widget has drawn (or not) its card


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class World:
    """The daemon (widget on, moving clock) and the test app, each on its own origin."""

    def __init__(self, store: Store, spa: Spa, clock: Clock) -> None:
        self.store, self.spa, self.clock = store, spa, clock
        self.console: list[str] = []

    def open(self, browser: Browser, width: int = 1280, height: int = 720) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.on("console", lambda m: self.console.append(m.text))
        return page

    def goto(self, page: Page, path: str = "/") -> Any:
        with page.expect_response(lambda r: r.url.endswith(CHECK)) as checked:
            page.goto(self.spa_url + path)
        return _settled(page, checked.value)

    def navigate(self, page: Page, link: str) -> Any:
        """Click an in-app link (pushState) and return the widget's check answer."""
        boot = page.evaluate("window.bootId")
        with page.expect_response(lambda r: r.url.endswith(CHECK)) as checked:
            page.click(f"#{link}")
        answer = _settled(page, checked.value)
        assert page.evaluate("window.bootId") == boot  # no reload happened
        return answer

    spa_url = ""


def _settled(page: Page, response: Any) -> Any:
    body = response.json()
    page.wait_for_timeout(SETTLE_MS)
    return body


@pytest.fixture
def world(lite: Store) -> Iterator[World]:
    spa = Spa()
    clock = Clock()
    with running(spa.app()) as spa_client:
        origin = str(spa_client.base_url).rstrip("/")
        router = widget_router(lite, {"acme": site(origins=(origin,))}, PROGRAMS, POLICY, clock)
        app = create_app(store=lite, signer=TokenSigner("t", timedelta(days=30)),
                         programs=PROGRAMS, clock=clock, policy=POLICY, widget=router)
        with running(app) as daemon:
            spa.daemon = str(daemon.base_url).rstrip("/")
            world = World(lite, spa, clock)
            world.spa_url = origin
            yield world


def _csp_clean(world: World, page: Page) -> None:
    assert page.evaluate("window.cspViolations") == []
    assert [m for m in world.console if "Content Security Policy" in m] == []
    assert page.context.cookies() == []


def test_route_change_brings_the_survey_answer_recorded_cooldown_holds(
        world: World, browser: Browser) -> None:
    """Mailed 7 days minus 1 hour ago: no card on load (this week's e-mail counts). Two hours
    later a pushState route change brings the NPS card; score and comment are recorded and
    queued for write-back; then no card on the next route change nor after a reload."""
    People(world.store).mailed(at=NOW - timedelta(days=7) + timedelta(hours=1))
    world.spa.me = {**identity(), "name": "Ana"}
    page = world.open(browser)
    on_load = world.goto(page)
    assert on_load == {"survey": None, "reason": "global_cooldown"}
    assert page.locator(CARD).count() == 0

    world.clock.now = NOW + timedelta(hours=2)
    shown = world.navigate(page, "orders")
    assert shown["survey"]["type"] == "nps"
    page.locator(CARD).wait_for(state="visible")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # for a human look at the card
    page.screenshot(path=str(SCREENSHOTS / "widget-card.png"))
    with page.expect_response(lambda r: r.url.endswith("/answer")) as scored:
        page.click("[data-closedloop] button[data-score='9']")
    assert scored.value.status == 200
    chosen = page.locator("[data-closedloop] button[data-score='9']")
    assert chosen.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(124, 45, 18)"
    page.fill("[data-closedloop] textarea", "Quick delivery")
    with page.expect_response(lambda r: r.url.endswith("/answer")) as commented:
        page.click("[data-closedloop] .cl-send")
    assert commented.value.status == 200
    page.locator("[data-closedloop] .cl-thanks").wait_for(state="visible")

    send_id = shown["survey"]["id"]
    response = world.store.get_response(send_id)
    assert response is not None
    assert (response.score, response.comment) == (9, "Quick delivery")
    with world.store.engine.connect() as conn:
        queued = sorted(r.kind for r in conn.execute(
            select(WRITEBACKS).where(WRITEBACKS.c.send_id == send_id,
                                     WRITEBACKS.c.status == "pending")))
    assert queued == ["answer", "answer", "sent"]

    page.locator("[data-closedloop]").wait_for(state="detached", timeout=10_000)
    world.clock.now = NOW + timedelta(hours=3)
    assert world.navigate(page, "settings") == {"survey": None, "reason": "program_cooldown"}
    assert page.locator(CARD).count() == 0
    with page.expect_response(lambda r: r.url.endswith(CHECK)) as reloaded:
        page.reload()
    assert _settled(page, reloaded.value)["survey"] is None
    assert page.locator(CARD).count() == 0
    _csp_clean(world, page)


def test_not_now_holds_its_cooldown(world: World, browser: Browser) -> None:
    """The card shows on load; "Not now" closes it, and neither a route change nor a reload
    brings it back; the dismissal is stored for the site's cooldown (14 days)."""
    People(world.store).mailed()
    world.spa.me = identity()
    page = world.open(browser)
    assert world.goto(page)["survey"] is not None
    page.locator(CARD).wait_for(state="visible")
    with page.expect_response(lambda r: r.url.endswith("/dismiss")) as dismissed:
        page.click("[data-closedloop] .cl-later")
    assert dismissed.value.status == 200
    assert page.locator(CARD).count() == 0
    assert world.navigate(page, "orders") == {"survey": None, "reason": "not_now"}
    assert world.goto(page, "/settings")["reason"] == "not_now"
    assert page.locator(CARD).count() == 0
    assert world.store.widget_dismissed_until("acme", identity()["email"]) \
        == NOW + timedelta(days=14)
    _csp_clean(world, page)


def test_forged_identity_gets_no_survey(world: World, browser: Browser) -> None:
    """A hash not made with the site's secret: 403, no card, nothing stored."""
    People(world.store).mailed()
    world.spa.me = identity(secret=b"guessed-secret-guessed-secret-guessed")
    page = world.open(browser)
    with page.expect_response(lambda r: r.url.endswith(CHECK)) as checked:
        page.goto(world.spa_url + "/")
    assert checked.value.status == 403
    page.wait_for_timeout(SETTLE_MS)
    assert page.locator(CARD).count() == 0
    with world.store.engine.connect() as conn:
        assert [r.channel for r in conn.execute(select(SENDS))] == ["email"]
    _csp_clean(world, page)


def test_person_mailed_this_week_is_not_asked(world: World, browser: Browser) -> None:
    """An e-mail survey two days ago: no card on load nor on route changes; no web row."""
    People(world.store).mailed(at=NOW - timedelta(days=2))
    world.spa.me = identity()
    page = world.open(browser)
    assert world.goto(page)["reason"] == "global_cooldown"
    assert world.navigate(page, "orders")["reason"] == "global_cooldown"
    assert page.locator(CARD).count() == 0
    with world.store.engine.connect() as conn:
        assert [r.channel for r in conn.execute(select(SENDS))] == ["email"]


def test_popstate_and_page_call_recheck_without_reload(world: World, browser: Browser) -> None:
    """Back (popstate) re-checks, and so does an explicit ClosedLoop.page() on a view change
    that leaves the history alone: both bring the card once the person is due."""
    People(world.store).mailed(at=NOW - timedelta(days=7) + timedelta(hours=1))
    People(world.store).mailed("bo@example.test", at=NOW - timedelta(days=7) + timedelta(hours=1),
                               contact_id="c-bo")
    world.spa.me = identity()
    page = world.open(browser)
    assert world.goto(page)["reason"] == "global_cooldown"
    assert world.navigate(page, "orders")["reason"] == "global_cooldown"
    world.clock.now = NOW + timedelta(hours=2)
    boot = page.evaluate("window.bootId")
    with page.expect_response(lambda r: r.url.endswith(CHECK)) as checked:
        page.go_back()
    assert _settled(page, checked.value)["survey"] is not None
    page.locator(CARD).wait_for(state="visible")
    assert page.evaluate("window.bootId") == boot

    world.clock.now = NOW
    world.spa.me = identity("bo@example.test")
    other = world.open(browser)
    assert world.goto(other)["reason"] == "global_cooldown"
    world.clock.now = NOW + timedelta(hours=2)
    with other.expect_response(lambda r: r.url.endswith(CHECK)) as checked:
        other.evaluate("ClosedLoop.page()")
    assert _settled(other, checked.value)["survey"] is not None
    other.locator(CARD).wait_for(state="visible")
    _csp_clean(world, other)


TARGETS = ("button[data-score]", ".cl-close", ".cl-later")


@pytest.mark.parametrize("width", [320, 390, 1280])
def test_touch_targets_are_44_px_tall_and_fit_the_screen(
        world: World, browser: Browser, width: int) -> None:
    """On the narrowest phone (320 px), a common one (390 px) and a desktop, every control of
    the NPS card (11 score points, close, "Not now") is at least 44 px tall and 24 px wide
    (WCAG 2.5.8; 2.5.5's 44 px height), and the card stays inside the screen."""
    People(world.store).mailed(at=NOW - timedelta(days=7) + timedelta(hours=1))
    world.spa.me = identity()
    world.clock.now = NOW + timedelta(hours=2)
    page = world.open(browser, width=width, height=740)
    shown = world.goto(page)
    assert shown["survey"]["type"] == "nps"
    page.locator(CARD).wait_for(state="visible")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # for a human look at the phone layout
    page.screenshot(path=str(SCREENSHOTS / f"widget-card-{width}.png"))
    boxes = {sel: page.locator(f"[data-closedloop] {sel}").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.left, r.right, r.width, r.height]; })") for sel in TARGETS}
    assert len(boxes["button[data-score]"]) == 11
    for sel, found in boxes.items():
        assert found, sel
        for left, right, w, h in found:
            assert h >= 44, (sel, w, h)
            assert w >= 24, (sel, w, h)
            assert left >= 0, (sel, left)
            assert right <= width, (sel, right)
    card = page.locator(CARD).bounding_box()
    assert card is not None
    assert card["x"] >= 0
    assert card["x"] + card["width"] <= width
