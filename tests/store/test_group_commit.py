"""Group commit (store/group_commit.py): many callers' writes in one durable transaction,
each caller told only after the COMMIT, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from closedloop.daemon.store import NewSend, ResponseRecord, Store, UnknownSend
from closedloop.daemon.store.answer_batch import Answer, record_responses_in
from closedloop.daemon.store.answers import RESPONSES, record_response_in
from closedloop.daemon.store.group_commit import GroupCommit

MakeSend = Callable[..., NewSend]


@pytest.fixture
def writer(store: Store) -> GroupCommit:
    return GroupCommit(store.engine, idle_seconds=0.2)


def _sends(store: Store, make_send: MakeSend, count: int) -> list[int]:
    store.add_sends([make_send(f"k{i}") for i in range(count)])
    with store.engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM sends ORDER BY id")))


def _stored(store: Store) -> dict[int, int]:
    with store.engine.connect() as conn:
        return {row.send_id: row.score for row in
                conn.execute(select(RESPONSES.c.send_id, RESPONSES.c.score))}


def _answer(send_id: int, score: int, now: datetime) -> Callable[[Connection], ResponseRecord]:
    return lambda conn: record_response_in(conn, send_id, score, "satisfied", now)


def _held_batch(writer: GroupCommit, works: list[Callable[[Connection], Any]]
                ) -> list[Future[Any]]:
    """Queue `works` while the writer is busy, so they all make its next batch."""
    busy, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        busy.set()
        release.wait(10)

    first = writer.submit(hold)
    assert busy.wait(10)
    futures = [writer.submit(work) for work in works]
    release.set()
    first.result(10)
    return futures


def test_concurrent_answers_commit_together_and_all_are_stored(
    store: Store, writer: GroupCommit, make_send: MakeSend, t0: datetime
) -> None:
    """Forty answers arriving while a batch commits make one batch of forty: every one is
    stored and every caller gets its own response back."""
    ids = _sends(store, make_send, 40)
    futures = _held_batch(writer, [_answer(i, 1 + i % 5, t0) for i in ids])
    results = [f.result(10) for f in futures]
    assert ([r.send_id for r in results], writer.batches) == (ids, 2)
    assert _stored(store) == {i: 1 + i % 5 for i in ids}


def test_an_error_in_one_write_does_not_lose_the_others(
    store: Store, writer: GroupCommit, make_send: MakeSend, t0: datetime
) -> None:
    """An answer for an unknown survey fails alone (rolled back to its savepoint); the
    answers before and after it in the same batch are stored."""
    ids = _sends(store, make_send, 4)
    works = [_answer(ids[0], 3, t0), _answer(ids[1], 4, t0), _answer(9_999, 5, t0),
             _answer(ids[2], 2, t0), _answer(ids[3], 1, t0)]
    futures = _held_batch(writer, works)
    with pytest.raises(UnknownSend):
        futures[2].result(10)
    assert [f.result(10).score for i, f in enumerate(futures) if i != 2] == [3, 4, 2, 1]
    assert _stored(store) == {ids[0]: 3, ids[1]: 4, ids[2]: 2, ids[3]: 1}


def test_a_failed_commit_fails_every_write_of_its_batch_and_stores_none(
    store: Store, writer: GroupCommit, make_send: MakeSend, t0: datetime
) -> None:
    """When the COMMIT fails, no caller of that batch hears success and nothing of it is
    stored; the writer carries on with the next batch."""
    ids = _sends(store, make_send, 4)
    state = {"fail": False}

    def arm(conn: Connection) -> None:  # the failing batch's first write
        state["fail"] = True

    def failing_commit(conn: Connection) -> None:
        if state["fail"]:
            state["fail"] = False
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(store.engine, "commit", failing_commit)
    try:
        futures = _held_batch(writer, [arm, *[_answer(i, 5, t0) for i in ids[:3]]])
        errors = [type(f.exception(10)) for f in futures]
    finally:
        event.remove(store.engine, "commit", failing_commit)
    assert (errors, _stored(store)) == ([OperationalError] * 4, {})
    assert writer.run_sync(_answer(ids[3], 4, t0)).score == 4
    assert _stored(store) == {ids[3]: 4}


def test_no_caller_is_answered_before_the_commit(
    store: Store, writer: GroupCommit, make_send: MakeSend, t0: datetime
) -> None:
    """At the moment of the COMMIT none of the batch's callers has its result yet."""
    ids = _sends(store, make_send, 5)
    futures: list[Future[Any]] = []
    seen: list[list[bool]] = []

    def at_commit(conn: Connection) -> None:
        seen.append([f.done() for f in futures])

    event.listen(store.engine, "commit", at_commit)
    try:
        futures.extend(_held_batch(writer, [_answer(i, 2, t0) for i in ids]))
        [f.result(10) for f in futures]
    finally:
        event.remove(store.engine, "commit", at_commit)
    assert seen[-1] == [False] * 5
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RESPONSES)) == 5


def test_the_writer_commits_durably(store: Store, writer: GroupCommit) -> None:
    """SQLite: the writer's connection syncs the WAL at every commit (synchronous=FULL, 2),
    while the pool keeps the store's NORMAL (1). PostgreSQL: synchronous_commit is on for
    the batch whatever the server's default."""
    if store.engine.dialect.name == "sqlite":
        setting = writer.run_sync(lambda c: c.exec_driver_sql("PRAGMA synchronous").scalar())
        with store.engine.connect() as conn:
            pool = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        assert (setting, pool) == (2, 1)
    else:
        setting = writer.run_sync(
            lambda c: c.exec_driver_sql("SHOW synchronous_commit").scalar())
        assert setting == "on"


@pytest.mark.postgres
@pytest.mark.parametrize("durable", [True, False], ids=["answers", "notes-only"])
def test_the_writers_commits_ignore_a_server_default_of_off(pg_url: str, durable: bool) -> None:
    """PostgreSQL whose sessions default to synchronous_commit=off (the URL's options, as a
    server or role setting would): a batch with a durable write still commits with it on, a
    batch of notes alone with it off; the store's own pool keeps the default."""
    url = make_url(pg_url).update_query_dict({"options": "-csynchronous_commit=off"})
    store = Store(url.render_as_string(hide_password=False))
    writer = GroupCommit(store.engine, idle_seconds=0.2)
    show = "SHOW synchronous_commit"
    try:
        first = writer.submit(lambda c: c.exec_driver_sql(show).scalar(), durable=durable)
        second = writer.submit(lambda c: c.exec_driver_sql(show).scalar(), durable=durable)
        with store.engine.connect() as conn:
            pool = conn.exec_driver_sql(show).scalar()
        assert (first.result(10), second.result(10), pool) == (
            ("on", "on", "off") if durable else ("off", "off", "off"))
    finally:
        writer.close()
        store.dispose()


def test_the_writer_stops_when_idle_and_starts_again(
    store: Store, writer: GroupCommit, make_send: MakeSend, t0: datetime
) -> None:
    """After `idle_seconds` without work the thread ends (its connection closed); the next
    write starts a new one."""
    [first, second] = _sends(store, make_send, 2)
    writer.run_sync(_answer(first, 1, t0))
    deadline = threading.Event()
    for _ in range(100):
        if not writer._running:
            break
        deadline.wait(0.05)
    assert writer._running is False
    writer.run_sync(_answer(second, 2, t0))
    assert _stored(store) == {first: 1, second: 2}


def _state(store: Store) -> list[list[tuple[Any, ...]]]:
    """Everything an answer writes, without ids and times that differ run to run."""
    queries = [
        "SELECT send_id, score, category, comment FROM responses ORDER BY send_id",
        "SELECT send_id, kind, status, data FROM writebacks ORDER BY send_id, kind, id",
        "SELECT send_id, status, version FROM follow_ups ORDER BY send_id",
        "SELECT send_id, kind, payload FROM events ORDER BY send_id, id",
    ]
    with store.engine.connect() as conn:
        return [[tuple(_plain(v) for v in row) for row in conn.execute(text(q))]
                for q in queries]


def _plain(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        return json.dumps({k: v for k, v in value.items() if k != "response_id"},
                          sort_keys=True)
    return value


@pytest.mark.parametrize("ticket", [True, False])
def test_a_batch_of_answers_writes_what_they_write_one_by_one(
    store: Store, writer: GroupCommit, make_send: MakeSend, t0: datetime, ticket: bool
) -> None:
    """The set-wise batch (answer_batch.py) leaves the same rows as record_response answer
    after answer: a send answered twice in the batch (its second answer an update, its
    hook replaced, not doubled), a repeated same score (no event), an unknown send
    (UnknownSend in its place, the others stored)."""
    store.add_sends([make_send(f"k{i}", ticket_id=f"t{i}" if ticket else None)
                     for i in range(4)])
    answers = [Answer(1, 5, "satisfied", t0), Answer(2, 1, "unsatisfied", t0),
               Answer(1, 2, "unsatisfied", t0), Answer(99, 3, "neutral", t0),
               Answer(3, 4, "satisfied", t0), Answer(3, 4, "satisfied", t0)]
    outcomes = writer.run_sync(lambda conn: record_responses_in(conn, answers))
    assert [type(o).__name__ for o in outcomes] == [
        "ResponseRecord", "ResponseRecord", "ResponseRecord", "UnknownSend",
        "ResponseRecord", "ResponseRecord"]
    batched = _state(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
        conn.execute(text("DELETE FROM writebacks"))
        conn.execute(text("DELETE FROM follow_ups"))
        conn.execute(text("DELETE FROM responses"))
    for answer in answers:
        with contextlib.suppress(UnknownSend):
            store.record_response(answer.send_id, answer.score, answer.category, answer.now)
    assert batched == _state(store)


def test_a_batch_of_notes_only_does_not_wait_for_the_disk_on_postgresql(
    store: Store, writer: GroupCommit
) -> None:
    """Score links opened may be lost (`durable=False`): a batch of nothing else commits
    with synchronous_commit off on PostgreSQL; a batch with any durable write keeps it on
    (test_the_writer_commits_durably). SQLite's writer syncs every batch alike."""
    show = "SHOW synchronous_commit" if store.engine.dialect.name == "postgresql" \
        else "PRAGMA synchronous"
    setting = writer.submit(lambda c: c.exec_driver_sql(show).scalar(), durable=False).result(10)
    assert setting == ("off" if store.engine.dialect.name == "postgresql" else 2)


def test_close_ends_the_writer_after_the_writes_queued_and_a_later_write_restarts_it(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """close() (Store.dispose() calls it through the score pages) ends the writer thread at
    once, not after `idle_seconds`, and only after what was queued before has committed; a
    write after it starts a new thread. Closing an idle writer is a no-op."""
    writer = GroupCommit(store.engine, idle_seconds=60)
    writer.close()  # never started
    [first, second] = _sends(store, make_send, 2)
    pending = writer.submit(_answer(first, 1, t0))
    thread = writer._thread
    writer.close()
    assert thread is not None
    assert (thread.is_alive(), writer._running, pending.done()) == (False, False, True)
    writer.run_sync(_answer(second, 2, t0))
    assert writer._thread is not thread
    assert _stored(store) == {first: 1, second: 2}
    writer.close()
