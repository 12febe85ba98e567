"""The dashboard in a real headless Chromium (Playwright, Debian's /usr/bin/chromium) against
the daemon's web app under uvicorn, on a store seeded with two regions and three stores.

Headquarters, a region manager and a store manager sign in through the form and see their
own numbers; the store manager cannot reach another store by editing the URL, through the
CSV download or through the JSON behind the charts; the charts render with no console
error; the pages fit a 390 px phone; the sort works from the keyboard; logout ends the
session. Screenshots of the main pages, desktop and phone width, land in build/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS

from admin.admin_support import EXPECTED_ANSWERS, EXPECTED_NPS, PASSWORD, seed_stores, serve
from closedloop.daemon.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"  # gitignored
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = {"overview": "/admin/", "segments": "/admin/segments?segment=store",
         "comments": "/admin/comments", "themes": "/admin/themes"}
STORES_OF = {"hq": ["bergen", "oslo", "stavanger"], "north": ["bergen", "oslo"],
             "oslo": ["oslo"]}


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, list[int]]]]:
    """The seeded store served once for the module (SQLite: the queries' behaviour on both
    backends is pinned by the HTTP tests)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('admin') / 'state.db'}")
    store.migrate()
    ids = seed_stores(store)
    with serve(store) as url:
        yield url, ids
    store.dispose()


class Session:
    """A browser context signed in as one user, recording console errors."""

    def __init__(self, browser: Browser, base: str, user: str,
                 viewport: dict[str, int] = DESKTOP) -> None:
        self.base = base
        self.context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.goto(f"{base}/admin/login")
        self.page.get_by_label("Name").fill(user)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{base}/admin/")

    def open(self, path: str) -> int:
        answer = self.page.goto(f"{self.base}{path}")
        assert answer is not None
        return answer.status

    def close(self) -> None:
        self.context.close()


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)


@pytest.mark.parametrize("user", ["hq", "north", "oslo"])
def test_each_role_sees_its_numbers_and_charts_render(
        browser: Browser, site: tuple[str, dict[str, list[int]]], user: str) -> None:
    """Signed in through the form: the overview's NPS and answer count are the user's, the
    three charts are drawn (an SVG with a title and a real size), the segment table lists
    exactly the user's stores, and no page logs a console error."""
    session = Session(browser, site[0], user)
    page = session.page
    assert (page.locator("#total-score").inner_text(),
            page.locator("#total-answers").inner_text()) == (EXPECTED_NPS[user],
                                                             EXPECTED_ANSWERS[user])
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box is not None
        assert (box["width"] > 200, box["height"] > 50) == (True, True)
        assert (charts.nth(i).locator("title").first.text_content() or "") != ""
    shoot(page, f"{user}-overview-desktop")
    for name, path in PAGES.items():
        assert session.open(path) == 200
        if name == "segments":
            stores = page.locator("#segment-table tbody th").all_inner_texts()
            assert sorted(stores) == STORES_OF[user]
        if user == "hq":
            shoot(page, f"{name}-desktop")
    assert session.problems == []
    session.close()


def test_pages_fit_a_phone(browser: Browser, site: tuple[str, dict[str, list[int]]]) -> None:
    """At 390x844 no page scrolls sideways (wide tables scroll inside their own box)."""
    session = Session(browser, site[0], "north", viewport=PHONE)
    for name, path in PAGES.items():
        assert session.open(path) == 200
        width = session.page.evaluate("document.documentElement.scrollWidth")
        assert (name, width <= PHONE["width"]) == (name, True)
        shoot(session.page, f"{name}-phone")
    assert session.problems == []
    session.close()


def test_a_store_manager_cannot_reach_another_store(
        browser: Browser, site: tuple[str, dict[str, list[int]]]) -> None:
    """The oslo manager edits the URL to bergen, downloads the CSV and fetches the JSON
    with bergen, opens a bergen answer: each is 403 and shows none of bergen's comments."""
    base, ids = site
    session = Session(browser, base, "oslo")
    assert session.open("/admin/?store=bergen") == 403
    assert "Rude staff" not in session.page.content()
    assert session.open(f"/admin/answers/{ids['bergen'][0]}") == 403
    request = session.context.request
    for path in ("/admin/export/comments.csv?store=bergen",
                 "/admin/data/comments.json?store=bergen",
                 "/admin/data/trend.json?region=south"):
        answer = request.get(f"{base}{path}")
        assert (path, answer.status) == (path, 403)
        assert "Rude staff" not in answer.text()
    own = request.get(f"{base}/admin/export/comments.csv").text()
    assert ("Slow delivery from Oslo" in own, "Rude staff" in own) == (True, False)
    session.close()


def test_sort_by_keyboard_and_drill_down(browser: Browser,
                                         site: tuple[str, dict[str, list[int]]]) -> None:
    """Tab to the Score heading and press Enter: sorted by score; again: the other way. A
    comment's details link opens the answer with its CRM link."""
    session = Session(browser, site[0], "hq")
    page = session.page
    session.open("/admin/segments?segment=store&sort=value&dir=asc")
    page.get_by_role("link", name="Score").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=score**")
    assert page.locator("#segment-table tbody th").all_inner_texts() == [
        "stavanger", "oslo", "bergen"]
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "descending"
    page.get_by_role("link", name="Score ▼").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**dir=asc**")
    assert page.locator("#segment-table tbody th").all_inner_texts() == [
        "bergen", "oslo", "stavanger"]
    session.open("/admin/comments")
    page.get_by_role("link", name="details").first.click()
    assert page.locator("#crm-link").get_attribute("href", timeout=5000) is not None
    shoot(page, "answer-desktop")
    assert session.problems == []
    session.close()


def test_logout_ends_the_session(browser: Browser,
                                 site: tuple[str, dict[str, list[int]]]) -> None:
    """Sign out: the sign-in page; the old cookie put back no longer opens a page."""
    base = site[0]
    session = Session(browser, base, "hq")
    cookies = session.context.cookies()
    session.page.get_by_role("button", name="Sign out").click()
    session.page.wait_for_url(f"{base}/admin/login")
    session.context.add_cookies(cookies)  # type: ignore[arg-type]
    session.open("/admin/")
    assert session.page.url.startswith(f"{base}/admin/login")
    session.close()


def test_csrf_tampered_cookie_and_lockout_in_the_browser(
        browser: Browser, site: tuple[str, dict[str, list[int]]]) -> None:
    """From the browser: a sign-out POST without the form's token, or with another, is 403
    and the session still works; a session cookie edited by hand is 403; five wrong
    passwords for one name lock it (the right one is then refused too)."""
    base = site[0]
    session = Session(browser, base, "north")
    request = session.context.request
    assert request.post(f"{base}/admin/logout", form={}).status == 403
    assert request.post(f"{base}/admin/logout", form={"csrf": "forged"}).status == 403
    assert session.open("/admin/") == 200
    (cookie,) = [c for c in session.context.cookies() if c["name"] == "cl_admin_session"]
    value = cookie["value"]
    cookie["value"] = ("B" if value[0] == "A" else "A") + value[1:]
    session.context.add_cookies([cookie])  # type: ignore[list-item]
    assert session.open("/admin/") == 403
    session.close()
    context = browser.new_context()
    page = context.new_page()
    for _ in range(5):
        page.goto(f"{base}/admin/login")
        page.get_by_label("Name").fill("oslo")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        assert page.locator("#login-error").inner_text() == "Wrong name or password."
    page.goto(f"{base}/admin/login")
    page.get_by_label("Name").fill("oslo")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#login-error").inner_text().startswith("Too many failed sign-ins")
    shoot(page, "login-locked-desktop")
    context.close()
