"""Scanners and people in a real headless Chromium (Playwright) against the app under uvicorn.

A scanner opens every link of the survey mail in turn, each in a new page, lets the script
run and waits for the network to go idle: it must record nothing, whether its browser says it
is automated (`navigator.webdriver`) or hides it. A person clicks one link of the same mail
and lands on the comment page with the score recorded once, without a second tap; without
script, one tap on the confirm button does it.

Chromium comes from the system (/usr/bin/chromium; tests/run.sh installs it): missing, these
tests skip locally and fail on CI (CI=true), like the PostgreSQL ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS
from sqlalchemy import func, select
from web_support import NOW, AddSend

from closedloop.daemon.delivery.compose import Sender, compose_survey
from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.links import unsubscribe_url
from closedloop.daemon.web.scanner import AUTO_POST_DELAY_MS
from closedloop.daemon.web.tokens import TokenSigner

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# What a person's browser reports: not automation-controlled (navigator.webdriver false).
UNAUTOMATED = {"ignore_default_args": ["--enable-automation"],
               "args": [*CHROMIUM_ARGS, "--disable-blink-features=AutomationControlled"]}
NPS = Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme")
SETTLE_MS = AUTO_POST_DELAY_MS + 2500  # every page's timer has fired, and its POST answered


@pytest.fixture(scope="module")
def automated(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium as Playwright starts it: navigator.webdriver is true."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def unautomated(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium that hides automation, as a stealthy scanner does and as a person's
    browser is: navigator.webdriver is false."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, **UNAUTOMATED)
    yield browser
    browser.close()


class Mail:
    """The survey mail for one send, as composed for sending, with links to the test app."""

    def __init__(self, client: httpx.Client, signer: TokenSigner, send_id: int) -> None:
        self.base = str(client.base_url).rstrip("/")
        issued = datetime.now(UTC)  # one moment for the mail's token and the test's own
        msg = compose_survey(program=NPS, send_id=send_id, to="ana@example.test",
                             first_name="Ana", language="en", public_url=self.base,
                             signer=signer, sender=Sender("s@example.test", "Acme"),
                             unsubscribe_url=unsubscribe_url(self.base, signer, send_id),
                             issued_at=issued)
        body = msg.get_body(("html",))
        assert body is not None
        self.html = str(body.get_content())
        self.links = re.findall(r'href="([^"]+)"', self.html)
        self.token = signer.make(send_id, issued)

    def score_link(self, score: int) -> str:
        url = f"{self.base}/r/{self.token}/{score}"
        assert url in self.links
        return url


def rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ResponseRow)) or 0)


def count_posts(context: BrowserContext) -> list[str]:
    """The URLs of every POST the context's pages send, in order."""
    posts: list[str] = []
    context.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    return posts


def scan(new_page: Callable[[], Page], links: list[str]) -> list[Page]:
    """Open every link in turn, each in a new page, letting its script run until the network
    is idle; leave the pages open, then wait until every page's timer has fired."""
    pages = []
    for url in links:
        page = new_page()
        page.goto(url, wait_until="networkidle")
        pages.append(page)
    pages[-1].wait_for_timeout(SETTLE_MS)
    return pages


# -- scanners --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["automated", "stealthy", "stealthy, a context per link"])
def test_a_scanner_opening_every_link_records_nothing(
    kind: str, automated: Browser, unautomated: Browser,
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend,
) -> None:
    """Every link of the mail (eleven scores, unsubscribe), in turn: no answer recorded.
    An automated browser never posts; a stealthy one posts from the first page, and the
    server refuses it as part of a burst (that page then shows the confirm button)."""
    mail = Mail(client, signer, add_send(email="ana@example.test"))
    browser = automated if kind == "automated" else unautomated
    context = browser.new_context()
    posts = count_posts(context)
    if kind.endswith("per link"):
        def new_page() -> Page:
            return browser.new_context().new_page()
    else:
        new_page = context.new_page
    pages = scan(new_page, mail.links)
    assert rows(store) == 0
    assert store.is_suppressed("ana@example.test", NOW) is False
    if kind == "automated":
        assert posts == []
    elif kind == "stealthy":
        assert posts[:1] == [mail.score_link(0)]  # the script ran, and was refused
        assert "Use the button to save your score." in pages[0].content()
    context.close()


def test_a_scanner_answering_head_and_get_only_records_nothing(
    client: httpx.Client, store: Store, signer: TokenSigner, add_send: AddSend
) -> None:
    """A scanner without a browser fetches each link (HEAD, then GET): nothing recorded."""
    mail = Mail(client, signer, add_send())
    for url in mail.links:
        path = url.removeprefix(mail.base)
        assert client.head(path).status_code == 200
        assert client.get(path).status_code == 200
    assert rows(store) == 0


# -- people ----------------------------------------------------------------------------------


def click_in_mail(context: BrowserContext, mail: Mail, score: int) -> Page:
    """Open the mail and click one score: its link opens in a new tab (target=_blank)."""
    inbox = context.new_page()
    inbox.set_content(mail.html)
    with context.expect_page() as opened:
        inbox.click(f'a[href="{mail.score_link(score)}"]')
    return opened.value


def test_a_person_clicking_one_link_records_once_in_one_step(
    unautomated: Browser, client: httpx.Client, store: Store, signer: TokenSigner,
    add_send: AddSend,
) -> None:
    """One click in the mail; no other action: the tab lands on the comment page, the score
    is recorded by exactly one POST."""
    send_id = add_send()
    mail = Mail(client, signer, send_id)
    context = unautomated.new_context()
    posts = count_posts(context)
    tab = click_in_mail(context, mail, 9)
    tab.wait_for_url(f"**/c/{mail.token}", timeout=15_000)
    assert "Your score: 9" in tab.content()
    response = store.get_response(send_id)
    assert response is not None
    assert (response.score, rows(store), posts) == (9, 1, [mail.score_link(9)])
    context.close()


def test_a_person_without_script_taps_confirm_once(
    unautomated: Browser, client: httpx.Client, store: Store, signer: TokenSigner,
    add_send: AddSend,
) -> None:
    """Script off: the landing page waits; one tap on "Confirm" records and goes on."""
    send_id = add_send()
    mail = Mail(client, signer, send_id)
    context = unautomated.new_context(java_script_enabled=False)
    posts = count_posts(context)
    page = context.new_page()
    page.goto(mail.score_link(7))
    page.wait_for_timeout(AUTO_POST_DELAY_MS + 500)
    assert (rows(store), posts) == (0, [])
    page.click("text=Confirm my score: 7")
    page.wait_for_url(f"**/c/{mail.token}", timeout=15_000)
    response = store.get_response(send_id)
    assert response is not None
    assert (response.score, rows(store), posts) == (7, 1, [mail.score_link(7)])
    context.close()


def test_a_person_clicking_during_a_scanners_burst_taps_confirm_once(
    unautomated: Browser, client: httpx.Client, store: Store, signer: TokenSigner,
    add_send: AddSend,
) -> None:
    """Right after a scanner went through the mail, a person's click shows the confirm
    button instead of recording; one tap records their score."""
    send_id = add_send()
    mail = Mail(client, signer, send_id)
    scanner = unautomated.new_context()
    scan(scanner.new_page, [mail.score_link(score) for score in (0, 5, 10)])
    context = unautomated.new_context()
    tab = click_in_mail(context, mail, 10)
    tab.wait_for_timeout(SETTLE_MS)
    assert rows(store) == 0
    tab.click("text=Confirm my score: 10")
    tab.wait_for_url(f"**/c/{mail.token}", timeout=15_000)
    response = store.get_response(send_id)
    assert response is not None
    assert (response.score, rows(store)) == (10, 1)
    scanner.close()
    context.close()
