"""Dashboard-test helpers: a store seeded with two regions and three stores (sends and
answers through the store's API, with `segments`), the daemon's web app with the dashboard
mounted served by uvicorn on 127.0.0.1, and sign-in over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
from insight.report_support import Seeder
from uvicorn_support import served

from closedloop.daemon.insight.report import refresh
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import refresh_themes
from closedloop.daemon.insight.themes.settings import ThemeSettings
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.app import create_admin_app
from closedloop.daemon.web.admin.auth import AuthPolicy
from closedloop.daemon.web.admin.passwords import hash_password
from closedloop.daemon.web.admin.settings import UserSettings
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.tokens import TokenSigner

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday
SETTINGS = ReportingSettings(segments={"region": "ticket.region", "store": "ticket.store"},
                             scope=("region", "store"), small_sample=3)
PASSWORD = "correct horse battery"
SECRET = "admin-test-secret"
# name -> scope; every user has PASSWORD
USERS = {"hq": {}, "north": {"region": "north"}, "oslo": {"store": "oslo"}}
# store -> (region, [(score, comment)]), plus one unanswered survey per store
ANSWERS: dict[str, tuple[str, list[tuple[int, str | None]]]] = {
    "oslo": ("north", [(10, "Fast and friendly"), (10, None), (9, None),
                       (0, "Slow delivery from Oslo")]),
    "bergen": ("north", [(0, "Rude staff in Bergen"), (5, None)]),
    "stavanger": ("south", [(10, "Great shop in Stavanger"), (9, None), (7, None)]),
}
# NPS over the seeded week, as each user sees it
EXPECTED_NPS = {"hq": "22", "north": "0", "oslo": "50"}
EXPECTED_ANSWERS = {"hq": "9", "north": "6", "oslo": "4"}


def seed_stores(store: Store) -> dict[str, list[int]]:
    """Answered and unanswered NPS surveys per store in the week of 16 November 2026;
    returns the send ids per store."""
    seeder = Seeder(store)
    ids: dict[str, list[int]] = {}
    sent = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    for name, (region, answers) in ANSWERS.items():
        segments = {"region": region, "store": name}
        for i, (score, comment) in enumerate(answers):
            ids.setdefault(name, []).append(seeder.survey(
                sent_at=sent, score=score, comment=comment, segments=segments,
                answered_at=sent + timedelta(hours=1 + i)))
        seeder.survey(sent_at=sent, segments=segments)
    refresh(store, SETTINGS, NOW)
    refresh_themes(store, ThemeSettings().matcher(), NOW + timedelta(hours=1),
                   reporting=SETTINGS)
    return ids


def config_users() -> list[UserSettings]:
    digest = hash_password(PASSWORD)
    return [UserSettings(name=n, password_hash=digest, scope=s) for n, s in USERS.items()]



@contextmanager
def serve(store: Store, clock: Callable[[], datetime] = lambda: NOW,
          policy: AuthPolicy | None = None, secure: bool = False) -> Iterator[str]:
    """The daemon's web app with the dashboard at /admin; yields its base URL."""
    accounts = Accounts(store, config_users(), SETTINGS.scope)
    admin = create_admin_app(
        store=store, settings=SETTINGS, accounts=accounts, secret=SECRET, clock=clock,
        policy=policy, secure_cookies=secure,
        record_link=lambda source, ticket, contact: f"https://crm.example/{source}/{ticket}")
    app = create_app(store=store, signer=TokenSigner("s", timedelta(days=1)), programs={},
                     clock=clock, admin=admin)
    with served(app) as base:
        yield base


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """GET the form (its CSRF cookie and token), POST it; returns the POST's answer."""
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"name": name, "password": password,
                                              "csrf": csrf_of(page.text)})
