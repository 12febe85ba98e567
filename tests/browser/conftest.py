"""One headless Chromium (Debian's package, driven by Playwright) for the whole session.

Chromium missing: the browser tests skip with the reason outside CI, and fail on CI
(CI=true), so CI can never pass with the layout silently untested. Screenshots go to
build/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from browser_layout import BRAND, PROGRAMS, SCREENSHOTS
from browser_support import CHROMIUM, CHROMIUM_ARGS
from uvicorn_support import served

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import SurveyType
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.tokens import Purpose, TokenSigner

NOW = datetime.now(UTC)
SIGNER = TokenSigner("browser-secret", timedelta(days=30))


def _launch(driver: Any, extra: tuple[str, ...] = ()) -> Iterator[Any]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chromium = driver.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra])
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    """The session's Chromium, shared by every browser test."""
    yield from _launch(playwright)


@pytest.fixture(scope="session")
def forced_dark_browser(playwright: Any) -> Iterator[Any]:
    """A second Chromium with its automatic dark mode forced on (it darkens light pages at
    paint time, as some mail apps do); started only by the test that needs it."""
    yield from _launch(playwright, ("--blink-settings=forceDarkModeEnabled=true",
                                    "--enable-features=WebContentsForceDark"))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The app over a store holding one answered send per survey type (French for CES);
    yields the URL of each page to look at."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'state.db'}")
    store.migrate()
    ids = {kind: n for n, kind in enumerate(SurveyType, start=1)}
    for kind, n in ids.items():
        store.add_sends([NewSend(
            idem_key=f"k{n}", program=kind.value, survey_type=kind.value, source="hubspot",
            contact_id=f"c{n}", due_at=NOW, created_at=NOW, ticket_id=f"t{n}",
            email=f"p{n}@example.test", first_name="Ana",
            language="fr" if kind is SurveyType.CES else "en",
        )])
    app = create_app(store=store, signer=SIGNER, programs=PROGRAMS, brand=BRAND)
    try:
        with served(app) as base:
            yield _pages(base)
    finally:
        store.dispose()


def _pages(base: str) -> dict[str, str]:
    """Answer each survey high over HTTP; the URL of each page to look at."""
    ids = {kind: n for n, kind in enumerate(SurveyType, start=1)}
    urls: dict[str, str] = {}
    with httpx.Client(base_url=base) as http:
        for kind, n in ids.items():
            token = SIGNER.make(n)
            high = {SurveyType.NPS: 9, SurveyType.CSAT: 4, SurveyType.CES: 6}[kind]
            assert http.post(f"/r/{token}/{high}").status_code == 303
            urls[f"comment-{kind.value}"] = f"{base}/c/{token}"
        nps = SIGNER.make(ids[SurveyType.NPS])
        urls["landing"] = f"{base}/r/{nps}/9"
        urls["thanks"] = f"{base}/t/{nps}"
        unsubscribe = SIGNER.make(ids[SurveyType.CSAT], purpose=Purpose.UNSUBSCRIBE)
        urls["unsubscribe"] = f"{base}/u/{unsubscribe}"
        urls["error-invalid"] = f"{base}/r/{nps[:-4]}AAAA/9"
        expired = SIGNER.make(ids[SurveyType.CES], NOW - timedelta(days=40))
        urls["error-expired"] = f"{base}/r/{expired}/5"
        urls["error-unknown"] = f"{base}/r/{SIGNER.make(99)}/5"
    return urls
