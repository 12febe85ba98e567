"""The answer writer's statements on the driver's cursor (store/answer_driver.py) write the
very rows SQLAlchemy's execution writes (answer_batch.py), on SQLite and PostgreSQL, and
wake the jobs' gates as those do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from closedloop.daemon.store import NewSend, ResponseRecord, Store, UnknownSend
from closedloop.daemon.store.answer_batch import (
    Answer,
    record_responses_in,
    record_responses_with,
)
from closedloop.daemon.store.answer_driver import DriverBatch
from closedloop.daemon.store.answer_statements import WRITEBACKS

MakeSend = Callable[..., NewSend]
TABLES = ("responses", "writebacks", "follow_ups", "events")
Outcome = list[ResponseRecord | UnknownSend]
Shown = list[ResponseRecord | str]


def _driver(conn: Connection, answers: list[Answer]) -> Outcome:
    return record_responses_with(conn, answers, DriverBatch(conn))


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an answer writes, every column, ids included."""
    with store.engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(text(
                    f"SELECT * FROM {table} ORDER BY id"))]
                for table in TABLES}


def _empty(store: Store) -> None:
    """The answer tables emptied, their ids counting from 1 again."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            return
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM sqlite_sequence"))


def _scenario(store: Store, record: Callable[[Connection, list[Answer]], Outcome],
              t0: datetime) -> tuple[list[Shown], dict[str, list[tuple[Any, ...]]]]:
    """Two batches, a writer's claim on one hook between them; outcomes and rows."""
    first = [Answer(1, 5, "satisfied", t0), Answer(2, 1, "unsatisfied", t0),
             Answer(1, 2, "unsatisfied", t0), Answer(99, 3, "neutral", t0),
             Answer(3, 4, "satisfied", t0), Answer(3, 4, "satisfied", t0),
             Answer(4, 3, "neutral", t0)]
    later = t0 + timedelta(minutes=1)
    second = [Answer(1, 2, "unsatisfied", later), Answer(2, 4, "satisfied", later),
              Answer(3, 5, "satisfied", later), Answer(4, 3, "neutral", later)]
    outcomes: list[Shown] = []

    def shown(batch: Outcome) -> Shown:
        return [o if isinstance(o, ResponseRecord) else repr(o) for o in batch]

    with store.engine.begin() as conn:
        outcomes.append(shown(record(conn, first)))
    with store.engine.begin() as conn:  # a writer holds send 2's hook: a new one is queued
        conn.execute(text("UPDATE writebacks SET claim_token = 'w1' "
                          "WHERE kind = 'hook' AND send_id = 2"))
    with store.engine.begin() as conn:
        outcomes.append(shown(record(conn, second)))
    return outcomes, _dump(store)


def test_the_driver_writes_the_rows_sqlalchemy_writes(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """The same two batches (a send answered twice in one, a changed and a repeated score,
    an unknown send, a survey without a ticket, a hook a writer holds) through SQLAlchemy
    and then, on emptied tables, on the driver's cursor: equal outcomes and equal rows,
    every column (ids, times, JSON data and payloads) compared."""
    store.add_sends([make_send(f"k{i}", ticket_id=None if i == 3 else f"t{i}")
                     for i in range(4)])
    through_engine = _scenario(store, record_responses_in, t0)
    _empty(store)
    on_driver = _scenario(store, _driver, t0)
    assert [len(rows) for rows in through_engine[1].values()] == [4, 14, 4, 7]
    assert on_driver == through_engine  # UnknownSend compares by its repr (an exception)


def test_the_drivers_writes_wake_the_gates_of_their_tables(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A batch on the driver's cursor moves the write counter of every table it wrote
    once its transaction commits (not before), and not that of a table it did not write."""
    store.add_sends([make_send("k0")])
    before = {t: store.writes.stamp([t]) for t in (*TABLES, "sends")}
    with store.engine.begin() as conn:
        _driver(conn, [Answer(1, 5, "satisfied", t0)])
        during = {t: store.writes.stamp([t]) for t in (*TABLES, "sends")}
    after = {t: store.writes.stamp([t]) for t in (*TABLES, "sends")}
    moved = {t for t in after if after[t] != before[t]}
    assert (during, moved) == (before, set(TABLES))


def test_an_insert_without_a_defaulted_column_gets_its_python_default(store: Store) -> None:
    """A write-back row given without `status` and `attempts` gets 'pending' and 0 on the
    driver's cursor, as SQLAlchemy's insert gives them (tables.py's Python-side defaults)."""
    row = {"source": "hubspot", "contact_id": "c1", "kind": "answer", "data": {"score": 5},
           "created_at": datetime(2026, 12, 5, 9, 0, tzinfo=UTC)}
    with store.engine.begin() as conn:
        DriverBatch(conn).insert("writebacks", [row])
        conn.execute(WRITEBACKS.insert(), [row])
    with store.engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(text(
            "SELECT status, attempts, data FROM writebacks ORDER BY id"))]
    assert got[0] == got[1]
    assert got[0][:2] == ("pending", 0)
