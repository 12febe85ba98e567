"""Fixtures for the response app: a real Store on a temp SQLite file, served by uvicorn on
127.0.0.1, and an httpx client talking real HTTP to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from uvicorn_support import served_client
from web_support import NOW, ServeWith, migrated

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.scanner import LinkOpens
from closedloop.daemon.web.tokens import TokenSigner

PROGRAMS = {
    "nps": Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme"),
    "csat": Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
                    follow_up="What could we do better?"),
    "ces": Program("ces", SurveyType.CES, "hubspot", timedelta(hours=1), "Acme"),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """SQLite only (overrides the repo-wide SQLite+PostgreSQL fixture): the web app's
    behaviour does not depend on the backend, and the store's own tests cover both."""
    yield from migrated(f"sqlite:///{tmp_path / 's.db'}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def both_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each backend (SQLite on a file, PostgreSQL at `pg_url`), for the
    pages whose reads differ by backend."""
    yield from migrated(f"sqlite:///{tmp_path / 'both.db'}" if request.param == "sqlite"
                        else request.getfixturevalue("pg_url"))


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """A migrated store on PostgreSQL, for what exists on PostgreSQL only."""
    yield from migrated(pg_url)


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner("test-secret", timedelta(days=30))


@pytest.fixture
def add_send(store: Store) -> Callable[..., int]:
    """Insert one send and return its id (ids count from 1 in the fresh database)."""
    counter = iter(range(1, 10_000))

    def add(program: str = "nps", language: str | None = None,
            email: str | None = "ana@example.test", timezone: str | None = None,
            first_name: str | None = "Ana", survey_type: str | None = None) -> int:
        n = next(counter)
        store.add_sends([NewSend(
            idem_key=f"k{n}", program=program,
            survey_type=survey_type or PROGRAMS[program].type.value,
            source="hubspot", contact_id=f"c{n}", due_at=NOW, created_at=NOW,
            ticket_id=f"t{n}", email=email, first_name=first_name, language=language,
            timezone=timezone,
        )])
        send = store.get_send(n)
        assert send is not None
        assert send.idem_key == f"k{n}"
        return n

    return add



@contextmanager
def _serve(
    store: Store, signer: TokenSigner, programs: Mapping[str, Program],
    policy: Policy | None = None, opens: LinkOpens | None = None,
) -> Iterator[httpx.Client]:
    """Run the app under uvicorn on a free port of 127.0.0.1; yield a client for it."""
    app = create_app(store=store, signer=signer, programs=programs, clock=lambda: NOW,
                     policy=policy, opens=opens)
    with served_client(app) as http:
        yield http


@pytest.fixture
def client(store: Store, signer: TokenSigner) -> Iterator[httpx.Client]:
    """Real HTTP to the app over the test's store."""
    with _serve(store, signer, PROGRAMS) as http:
        yield http


@pytest.fixture
def serve() -> Callable[[Store, TokenSigner], AbstractContextManager[httpx.Client]]:
    """Serve the app over another store (e.g. a broken one)."""
    return lambda store, signer: _serve(store, signer, PROGRAMS)




@pytest.fixture
def serve_with(store: Store, signer: TokenSigner) -> ServeWith:
    """Serve the test's store with other programs, another Policy and/or a link-open memory."""

    def serve(programs: Mapping[str, Program] | None = None, policy: Policy | None = None,
              opens: LinkOpens | None = None) -> AbstractContextManager[httpx.Client]:
        return _serve(store, signer, programs or PROGRAMS, policy, opens)

    return serve


@pytest.fixture
def now() -> datetime:
    """The app's frozen clock."""
    return NOW
