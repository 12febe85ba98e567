"""PostgreSQL: the score pages' reads on the event loop (web/async_reads.py) wait a bounded
time for a hung or unreachable server, then answer the branded 503 page; the pages that
come after a recovery are served again."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url
from uvicorn_support import served_client
from web_support import NOW, one_send

from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web import async_reads
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.scanner import SharedOpenTracker
from closedloop.daemon.web.tokens import TokenSigner

PROGRAMS = {"nps": Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme")}
TAPPED = {"via": "button"}
pytestmark = pytest.mark.postgres


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(async_reads, "READ_TIMEOUT", 0.5)
    return 0.5


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_never_answers_the_connect_gets_the_503_page(
        pg_url: str, silent_server: int, signer: TokenSigner, short_timeout: float) -> None:
    """The score pages' database accepts the connection and says nothing: each GET and POST
    (six, more than the readers' four slots) is the 503 "unavailable" page, not a page held
    open (before the fix: no answer at all, the client's own 10-s timeout)."""
    url = make_url(pg_url).set(port=silent_server).render_as_string(hide_password=False)
    store = Store(url)
    app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=lambda: NOW,
                     opens=SharedOpenTracker(store))
    try:
        with served_client(app) as http:
            pages = [http.get(f"/r/{signer.make(1)}/5", timeout=10) for _ in range(5)]
            pages.append(http.post(f"/r/{signer.make(1)}/5", data=TAPPED, timeout=10))
        assert [(p.status_code, "text/html" in p.headers["content-type"]) for p in pages] == [
            (503, True)] * 6
    finally:
        store.dispose()


def test_a_statement_stuck_on_a_lock_gets_the_503_page_then_pages_come_back(
        pg_url: str, signer: TokenSigner, short_timeout: float) -> None:
    """A transaction holds `sends` locked (a migration, a stuck session): the six pages
    asked meanwhile are each the 503 page (before the fix they waited for the lock for
    good); once the lock is gone the next page is served (no slot left held)."""
    store = Store(pg_url)
    store.migrate()
    try:
        token = signer.make(one_send(store))
        app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=lambda: NOW,
                         opens=SharedOpenTracker(store))
        with served_client(app) as http:
            with psycopg.connect(pg_url) as locker:
                locker.execute("LOCK TABLE sends IN ACCESS EXCLUSIVE MODE")
                stuck = [http.get(f"/r/{token}/5", timeout=10).status_code for _ in range(6)]
                locker.rollback()
            after = http.get(f"/r/{token}/5", timeout=10).status_code
        assert (stuck, after) == ([503] * 6, 200)
    finally:
        store.dispose()
