"""An app whose store was disposed (shutdown, a fork) and then used again, on SQLite and
PostgreSQL: its score pages reopen what they held, serve and record as before (never a
500), and the next dispose closes what they reopened."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from uvicorn_support import served_client
from web_support import NOW, client_backends

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.scanner import LinkOpens, OpenTracker, SharedOpenTracker
from closedloop.daemon.web.tokens import TokenSigner

PROGRAMS = {"nps": Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme")}
TAPPED = {"via": "button"}


def _sends(store: Store, count: int) -> list[int]:
    store.add_sends([NewSend(idem_key=f"k{n}", program="nps", survey_type="nps",
                             source="hubspot", contact_id=f"c{n}", due_at=NOW, created_at=NOW,
                             email=f"p{n}@example.test") for n in range(count)])
    with store.engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM sends ORDER BY id")))


def _answers(store: Store) -> dict[int, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(ResponseRow.send_id, ResponseRow.score))
        return {row.send_id: row.score for row in rows}


def _opens(kind: str, store: Store) -> LinkOpens:
    return SharedOpenTracker(store) if kind == "shared" else OpenTracker()


@pytest.mark.parametrize("kind", ["memory", "shared"])
def test_pages_and_answers_after_the_store_was_disposed(
        both_store: Store, signer: TokenSigner, kind: str) -> None:
    """Pages and answers, the store disposed, then pages and answers again on the same
    served app: every page 200 and every answer 303 (before the fix, PostgreSQL answered
    the page after the dispose with a 500: its reading thread kept its closed connection),
    and both answers stored."""
    first, second = _sends(both_store, 2)
    app = create_app(store=both_store, signer=signer, programs=PROGRAMS, clock=lambda: NOW,
                     opens=_opens(kind, both_store))
    with served_client(app) as http:
        statuses = [http.get(f"/r/{signer.make(first)}/5").status_code,
                    http.post(f"/r/{signer.make(first)}/5", data=TAPPED).status_code]
        both_store.dispose()
        statuses += [http.get(f"/r/{signer.make(second)}/7").status_code,
                     http.post(f"/r/{signer.make(second)}/7", data=TAPPED).status_code,
                     http.get(f"/r/{signer.make(second)}/8").status_code]
    assert (statuses, _answers(both_store)) == ([200, 303, 200, 303, 200],
                                                {first: 5, second: 7})


def _backends(settled_at: int | None = None) -> int:
    """The server's client backends on this database; with `settled_at`, waits up to 2 s
    for them to come down to it (a closed connection's backend exits a moment later)."""
    for _ in range(20):
        count = client_backends()
        if settled_at is None or count <= settled_at:
            return count
        time.sleep(0.1)
    return count


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["memory", "shared"])
def test_every_dispose_closes_what_the_pages_held_since_the_last(
        pg_url: str, signer: TokenSigner, kind: str) -> None:
    """PostgreSQL: pages and an answer, dispose, pages and an answer again, dispose again:
    after each dispose the server has exactly the backends it had before the first page
    (before the fix the held-connection cleanup ran once per app: what the pages reopened
    after the first dispose stayed open)."""
    store = Store(pg_url)
    store.migrate()
    try:
        first, second = _sends(store, 2)
        store.dispose()
        before = _backends()
        app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=lambda: NOW,
                         opens=_opens(kind, store))
        after = []
        with served_client(app) as http:
            for send_id in (first, second):
                assert http.get(f"/r/{signer.make(send_id)}/5").status_code == 200
                assert http.post(f"/r/{signer.make(send_id)}/5",
                                 data=TAPPED).status_code == 303
                store.dispose()
                after.append(_backends(settled_at=before))
        assert (after, _answers(store)) == ([before, before], {first: 5, second: 5})
    finally:
        store.dispose()
