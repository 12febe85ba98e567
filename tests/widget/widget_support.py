"""What the widget tests share: a site, its programs, a movable clock, the app under uvicorn,
and a person surveyed by e-mail (a module of its own: `conftest` names clash across folders)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from uvicorn_support import served_client

from closedloop.daemon.brand import Brand
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.tokens import TokenSigner
from closedloop.daemon.web.widget.identity import identity_hash
from closedloop.daemon.web.widget.limits import Buckets
from closedloop.daemon.web.widget.lookup import ContactLookup
from closedloop.daemon.web.widget.router import widget_router
from closedloop.daemon.web.widget.settings import Site

SECRET = b"widget-secret-for-tests-0123456789abcdef"
ORIGIN = "https://app.acme.test"
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday, 10:00 UTC
ANA = "ana@example.test"
ACCENT = "#7c2d12"  # web_nps's brand colour: rgb(124, 45, 18)
PROGRAMS = {
    "web_nps": Program("web_nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme",
                       cooldown=timedelta(days=90), channel="web",
                       brand=Brand(company="Acme", color=ACCENT)),
    "web_csat": Program("web_csat", SurveyType.CSAT, "hubspot", timedelta(0), "Acme",
                        channel="web"),
    "csat": Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme"),
}
POLICY = Policy()  # global cooldown 7 days, quiet hours 21:00-08:00, every day a send day


def site(origins: tuple[str, ...] = (ORIGIN,), programs: tuple[str, ...] = ("web_nps",),
         not_now: timedelta = timedelta(days=14)) -> Site:
    return Site("acme", SECRET, frozenset(origins), programs, not_now)


@dataclass
class Clock:
    """The app's clock; tests move it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeMonotonic:
    """The rate limiter's clock: seconds that pass only when a test says so."""

    seconds: float = 0.0

    def __call__(self) -> float:
        return self.seconds



@contextmanager
def serve(store: Store, *, sites: Mapping[str, Site] | None = None, clock: Clock | None = None,
          policy: Policy = POLICY, visitor_limit: Buckets | None = None,
          site_limit: Buckets | None = None,
          lookup: ContactLookup | None = None) -> Iterator[httpx.Client]:
    """The whole response app (security headers, error pages) with the widget, on uvicorn."""
    clock = clock or Clock()
    router = widget_router(store, sites or {"acme": site()}, PROGRAMS, policy, clock,
                           visitor_limit=visitor_limit, site_limit=site_limit, lookup=lookup)
    app = create_app(store=store, signer=TokenSigner("t", timedelta(days=30)),
                     programs=PROGRAMS, clock=clock, policy=policy, widget=router)
    with running(app) as client:
        yield client


@contextmanager
def running(app: Any) -> Iterator[httpx.Client]:
    """Any ASGI app under uvicorn on a free port of 127.0.0.1; a client for it."""
    with served_client(app) as http:
        yield http


def identity(email: str = ANA, secret: bytes = SECRET) -> dict[str, str]:
    return {"email": email, "hash": identity_hash(secret, email)}


def post(client: httpx.Client, action: str, body: dict[str, Any], *,
         origin: str | None = ORIGIN, site_name: str = "acme") -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if origin is not None:
        headers["Origin"] = origin
    return client.post(f"/widget/v1/{site_name}/{action}", json=body, headers=headers)


@dataclass
class People:
    """Puts people into the store as a CRM poll and dispatch would: an e-mail survey sent."""

    store: Store

    def mailed(self, email: str = ANA, at: datetime = NOW - timedelta(days=60),
               contact_id: str = "c-ana", language: str | None = None,
               program: str = "csat") -> int:
        """A survey of `program` mailed to `email` at `at`; returns its send id."""
        n = f"{contact_id}-{program}-{at.isoformat()}"
        self.store.add_sends([NewSend(
            idem_key=f"mail-{n}", program=program, survey_type=PROGRAMS[program].type.value,
            source="hubspot", contact_id=contact_id, due_at=at, created_at=at,
            ticket_id=f"t{n}", email=email, first_name="Ana", language=language)])
        send = next(s for s in self.store.due_sends_until(at) if s.idem_key == f"mail-{n}")
        self.store.mark_sent(send.id, at, f"<m{n}@test>")
        return send.id
