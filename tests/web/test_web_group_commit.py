"""The score POST over real HTTP with the group commit (web/answering.py): concurrent
answers all stored, a failed COMMIT answered 503, a crash before the COMMIT answered
nothing; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.exc import OperationalError
from web_support import NOW, migrated

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.web.tokens import TokenSigner

Serve = Callable[[Store, TokenSigner], AbstractContextManager[httpx.Client]]
TAPPED = {"via": "button"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'answers.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def any_store(db_url: str) -> Iterator[Store]:
    yield from migrated(db_url)


def _sends(store: Store, count: int) -> list[int]:
    store.add_sends([NewSend(idem_key=f"k{n}", program="nps", survey_type="nps",
                             source="hubspot", contact_id=f"c{n}", due_at=NOW, created_at=NOW,
                             ticket_id=f"t{n}", email=f"p{n}@example.test")
                     for n in range(count)])
    with store.engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM sends ORDER BY id")))


def _answers(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ResponseRow)) or 0)


def test_sixteen_concurrent_answers_are_all_stored(
    serve: Serve, any_store: Store, signer: TokenSigner
) -> None:
    """Sixteen people answer at once over sixteen connections: sixteen 303s, sixteen answers
    stored, each with its own score."""
    ids = _sends(any_store, 16)
    with serve(any_store, signer) as client, ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(
            lambda i: client.post(f"/r/{signer.make(i)}/{i % 11}", data=TAPPED).status_code,
            ids))
    assert statuses == [303] * 16
    assert {i: (r.score if (r := any_store.get_response(i)) else None) for i in ids} == {
        i: i % 11 for i in ids}


def test_a_failed_commit_is_answered_503_and_stores_nothing(
    serve: Serve, any_store: Store, signer: TokenSigner
) -> None:
    """The COMMIT of the answer's batch fails (a full disk, a lost connection): the person
    gets the "could not save, try again" page (503), never the redirect, and nothing is
    stored; the next click records."""
    [send_id] = _sends(any_store, 1)
    failures = []

    def failing_commit(conn: Connection) -> None:
        if threading.current_thread().name == "group-commit" and not failures:
            failures.append(1)
            raise OperationalError("COMMIT", {}, Exception("disk full"))

    event.listen(any_store.engine, "commit", failing_commit)
    try:
        with serve(any_store, signer) as client:
            refused = client.post(f"/r/{signer.make(send_id)}/7", data=TAPPED)
            stored_after_failure = _answers(any_store)
            accepted = client.post(f"/r/{signer.make(send_id)}/7", data=TAPPED)
    finally:
        event.remove(any_store.engine, "commit", failing_commit)
    assert (refused.status_code, stored_after_failure) == (503, 0)
    assert (accepted.status_code, _answers(any_store)) == (303, 1)


_CRASHING_SERVER = textwrap.dedent("""
    import os, sys, threading
    from datetime import timedelta
    import uvicorn
    from sqlalchemy import event
    from closedloop.daemon.store import Store
    from closedloop.daemon.surveys import Program, SurveyType
    from closedloop.daemon.web.app import create_app
    from closedloop.daemon.web.tokens import TokenSigner

    store = Store(sys.argv[1])

    def crash(conn):  # the process dies as the answer's COMMIT starts: kill -9 at the worst
        if threading.current_thread().name == "group-commit":
            os._exit(9)

    event.listen(store.engine, "commit", crash)
    app = create_app(store=store, signer=TokenSigner("test-secret", timedelta(days=30)),
                     programs={"nps": Program("nps", SurveyType.NPS, "hubspot", timedelta(0),
                                              "Acme")})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                lifespan="off")
""")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_crash_before_the_commit_answers_nothing_and_stores_nothing(
    db_url: str, any_store: Store, signer: TokenSigner
) -> None:
    """The web process dies just before its batch's COMMIT: the browser gets no response
    at all (never a 2xx it could take for "saved"), and the database holds no answer."""
    [send_id] = _sends(any_store, 1)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _CRASHING_SERVER, db_url, str(port)],
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "the server did not start"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client, \
                pytest.raises(httpx.TransportError):
            client.post(f"/r/{signer.make(send_id)}/9", data=TAPPED)
        assert server.wait(timeout=10) == 9
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert _answers(any_store) == 0
