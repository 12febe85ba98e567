"""The score pages with the store's shared link memory (replicas on one database), on
SQLite and PostgreSQL; on PostgreSQL each page's store work is one statement
(store/score_reads.py): the link noted only when the page is shown, a scanner's burst still
caught, a person's click still recorded."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select, text
from uvicorn_support import served_client
from web_support import NOW, client_backends, one_send

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.tables import LinkOpen
from closedloop.daemon.store.tables import Response as ResponseRow
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.app import create_app
from closedloop.daemon.web.scanner import BURST_WINDOW, SharedOpenTracker
from closedloop.daemon.web.tokens import TokenSigner

PROGRAMS = {"nps": Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme")}
SCRIPTED, TAPPED = {"via": "script"}, {"via": "button"}


def _serve(store: Store, signer: TokenSigner) -> AbstractContextManager[httpx.Client]:
    app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=lambda: NOW,
                     opens=SharedOpenTracker(store))
    return served_client(app)


def _opens(store: Store) -> list[tuple[int, int]]:
    with store.engine.connect() as conn:
        return sorted((r.send_id, r.score) for r in conn.execute(
            select(LinkOpen.send_id, LinkOpen.score)))


def _answers(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ResponseRow)) or 0)


def _auto_posts(page: httpx.Response) -> bool:
    return re.search(r"<script nonce=[^>]*>.*form\.submit\(\)", page.text, re.S) is not None


def test_a_burst_records_nothing_and_a_click_records(
    both_store: Store, signer: TokenSigner
) -> None:
    """Two scores of one survey opened, then the script's POST: nothing recorded and the page
    asks for a tap; the tap records. A single link opened and its script's POST records."""
    token = signer.make(one_send(both_store))
    with _serve(both_store, signer) as http:
        first = http.get(f"/r/{token}/1")
        second = http.get(f"/r/{token}/2")
        refused = http.post(f"/r/{token}/2", data=SCRIPTED)
        assert (_auto_posts(first), _auto_posts(second)) == (True, False)
        assert (refused.status_code, _auto_posts(refused), _answers(both_store)) == (
            200, False, 0)
        assert http.post(f"/r/{token}/2", data=TAPPED).status_code == 303
    assert _answers(both_store) == 1


def test_a_single_click_posted_by_the_script_records(
    both_store: Store, signer: TokenSigner
) -> None:
    """One link opened, then its script's POST: a person, recorded (303)."""
    token = signer.make(one_send(both_store))
    with _serve(both_store, signer) as http:
        assert http.get(f"/r/{token}/9").status_code == 200
        assert http.post(f"/r/{token}/9", data=SCRIPTED).status_code == 303
    assert _answers(both_store) == 1


def test_only_a_page_that_is_shown_notes_its_link(
    both_store: Store, signer: TokenSigner
) -> None:
    """A score off the scale (400), an unknown send (404), an expired link (410) and a
    score that is not a number (400) note nothing; the shown page notes (send, score)."""
    send_id = one_send(both_store)
    old = signer.make(send_id, NOW - signer.max_age - timedelta(days=1))
    with _serve(both_store, signer) as http:
        statuses = [http.get(f"/r/{signer.make(send_id)}/11").status_code,
                    http.get(f"/r/{signer.make(send_id + 1)}/5").status_code,
                    http.get(f"/r/{old}/5").status_code,
                    http.get(f"/r/{signer.make(send_id)}/x").status_code]
        assert (statuses, _opens(both_store)) == ([400, 404, 410, 400], [])
        assert http.get(f"/r/{signer.make(send_id)}/5").status_code == 200
    assert _opens(both_store) == [(send_id, 5)]


def test_opening_a_link_drops_the_surveys_stale_openings(
    both_store: Store, signer: TokenSigner
) -> None:
    """An opening older than the burst window is dropped when the survey is opened again
    (and is no burst); one inside the window is kept (and is)."""
    send_id = one_send(both_store)
    now = datetime.now(UTC)
    with both_store.engine.begin() as conn:
        conn.execute(insert(LinkOpen), [
            {"send_id": send_id, "score": 1, "opened_at": now - BURST_WINDOW * 2},
            {"send_id": send_id, "score": 2, "opened_at": now - BURST_WINDOW / 2}])
    with _serve(both_store, signer) as http:
        page = http.get(f"/r/{signer.make(send_id)}/3")
    assert (_auto_posts(page), _opens(both_store)) == (False, [(send_id, 2), (send_id, 3)])


@pytest.mark.postgres
def test_a_reader_whose_connection_died_is_replaced(pg_url: str, signer: TokenSigner) -> None:
    """PostgreSQL: the server drops the page readers' connections (a restart, a failover).
    The page that meets a dead one is the 503 page; the next ones open a fresh connection
    and are served again, their link noted (a dead reader kept would fail every page)."""
    store = Store(pg_url)
    store.migrate()
    try:
        token = signer.make(one_send(store))
        with _serve(store, signer) as http:
            assert http.get(f"/r/{token}/5").status_code == 200
            with store.engine.connect() as conn:
                killed = conn.scalar(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND query LIKE '%link_opens%'"))
            statuses = [http.get(f"/r/{token}/5").status_code for _ in range(6)]
        first_ok = statuses.index(200) if 200 in statuses else len(statuses)
        assert (killed >= 1, set(statuses[:first_ok]) <= {503}, set(statuses[first_ok:])) == (
            True, True, {200})  # never 200: a dead reader kept
        assert _opens(store) == [(1, 5)] * (1 + len(statuses) - first_ok)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_disposing_the_store_closes_the_score_pages_held_connections(
        pg_url: str, signer: TokenSigner) -> None:
    """The score pages' held driver connections (one per reading thread, never pooled) are
    closed with the store: after a page is served and the store disposed, the server has
    exactly the backends it had before (none left open to warn when freed at exit)."""
    store, token, before = _idle_store(pg_url, signer)
    with _serve(store, signer) as http:
        assert http.get(f"/r/{token}/7").status_code == 200
    assert client_backends() > before  # the pool's and the reader's
    store.dispose()
    assert client_backends() == before


@pytest.mark.postgres
def test_disposing_the_store_closes_the_answer_writers_connection_too(
        pg_url: str, signer: TokenSigner) -> None:
    """After an answer is recorded, disposing the store also ends the group-commit writer
    and closes its connection at once (it stayed open until the writer's idle timeout, 5 s,
    outliving the store): the server has exactly the backends it had before."""
    store, token, before = _idle_store(pg_url, signer)
    with _serve(store, signer) as http:
        assert http.post(f"/r/{token}/7", data=TAPPED).status_code == 303
    assert _answers(store) == 1
    store.dispose()
    assert client_backends() == before


@pytest.mark.postgres
def test_an_app_served_again_on_a_new_event_loop_still_serves_its_score_pages(
        pg_url: str, signer: TokenSigner) -> None:
    """PostgreSQL: the score pages' connections are awaited on the event loop; the same app
    served a second time (a new loop) opens fresh ones and serves pages and answers, its
    links noted both times."""
    store = Store(pg_url)
    store.migrate()
    try:
        send_id = one_send(store)
        token = signer.make(send_id)
        app = create_app(store=store, signer=signer, programs=PROGRAMS, clock=lambda: NOW,
                         opens=SharedOpenTracker(store))
        statuses = []
        for _ in range(2):
            with served_client(app) as http:
                statuses.append(http.get(f"/r/{token}/5").status_code)
                statuses.append(http.post(f"/r/{token}/5", data=TAPPED).status_code)
        assert statuses == [200, 303, 200, 303]
        assert (_opens(store), _answers(store)) == ([(send_id, 5), (send_id, 5)], 1)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_concurrent_score_pages_share_a_few_connections(
        pg_url: str, signer: TokenSigner) -> None:
    """PostgreSQL: 40 score pages fetched 16 at a time open at most READ_THREADS reading
    connections (plus the group commit's and the pool's), not one per request."""
    from concurrent.futures import ThreadPoolExecutor

    from closedloop.daemon.web.answering import READ_THREADS

    store = Store(pg_url)
    store.migrate()
    try:
        token = signer.make(one_send(store))
        store.dispose()
        before = client_backends()
        with _serve(store, signer) as http, ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda _: http.get(f"/r/{token}/5").status_code, range(40)))
            during = client_backends()
        assert (codes, before < during <= before + READ_THREADS + 2) == ([200] * 40, True)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_every_prune_every_th_page_drops_everyones_stale_openings(
        pg_url: str, signer: TokenSigner) -> None:
    """PostgreSQL, the one trip on the loop: another survey's opening older than the window
    stays through PRUNE_EVERY - 1 shown pages and is gone after the PRUNE_EVERY-th; a fresh
    one stays."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from closedloop.daemon.store.score_reads import PRUNE_EVERY
    from closedloop.daemon.web.answering import AnswerPath

    store = Store(pg_url)
    store.migrate()
    now = datetime.now(UTC)
    try:
        send_id = one_send(store)
        with store.engine.begin() as conn:
            conn.execute(insert(LinkOpen), [
                {"send_id": send_id + 100, "score": 1, "opened_at": now - timedelta(hours=1)},
                {"send_id": send_id + 200, "score": 1, "opened_at": now}])
        path = AnswerPath(store, SharedOpenTracker(store), lambda: now)

        async def pages(count: int) -> None:
            for _ in range(count):
                await path.open_link_on_loop(send_id, 5, ["nps"])

        def others() -> list[int]:
            return sorted({s for s, _ in _opens(store) if s != send_id})

        with ThreadPoolExecutor(1) as thread:  # a fresh loop (Playwright may hold this one's)
            thread.submit(asyncio.run, pages(PRUNE_EVERY - 1)).result()
            kept = others()
            thread.submit(asyncio.run, pages(1)).result()
        assert (kept, others()) == ([send_id + 100, send_id + 200], [send_id + 200])
        path.close()
    finally:
        store.dispose()


def _idle_store(pg_url: str, signer: TokenSigner) -> tuple[Store, str, int]:
    """A store holding one send, its pool emptied: (store, the send's token, the server's
    backends now)."""
    store = Store(pg_url)
    store.migrate()
    token = signer.make(one_send(store))
    store.dispose()
    return store, token, client_backends()


def test_a_pages_language_and_a_removed_program_on_each_backend(
        both_store: Store, signer: TokenSigner) -> None:
    """The pages' reads give what they speak and check by (on PostgreSQL the one trip's five
    columns): a German survey's page is in German and its POST records; a survey whose
    program left the config answers 410 in its own language to GET and POST, notes no
    opening and records nothing."""
    both_store.add_sends([
        NewSend(idem_key=f"k{n}", program=program, survey_type="nps", source="hubspot",
                contact_id=f"c{n}", due_at=NOW, created_at=NOW, email=f"p{n}@example.test",
                language="de", first_name="Bo")
        for n, program in ((1, "nps"), (2, "gone"))])
    with _serve(both_store, signer) as http:
        german = http.get(f"/r/{signer.make(1)}/5")
        posted = http.post(f"/r/{signer.make(1)}/5", data=TAPPED)
        gone = [http.get(f"/r/{signer.make(2)}/5"), http.post(f"/r/{signer.make(2)}/5",
                                                             data=TAPPED)]
    assert (german.status_code, '<html lang="de">' in german.text, posted.status_code) == (
        200, True, 303)
    assert [(p.status_code, '<html lang="de">' in p.text) for p in gone] == [(410, True)] * 2
    assert (_opens(both_store), _answers(both_store)) == ([(1, 5)], 1)
