"""Many answers in one go: `record_response_in` for a whole group-commit batch.

One answer runs nine statements; run one by one, SQLAlchemy's work around each cost the
writer more than SQLite's. Here each statement runs once for the batch (IN lists and
executemany), with the same outcome as `record_response_in` answer after answer: the
response upserted, its write-back and follow-up queued, its ticket hook replaced while no
writer has touched it (else a new one), `response.created` / `response.updated` emitted.
A send answered twice in one batch is taken in a second round, so its second answer sees
the first. Unknown sends come back as UnknownSend, each in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam

from closedloop.daemon.store import answers as store_answers
from closedloop.daemon.store.answer_statements import (
    EVENTS,
    answer_statements,
    batch_lookup,
)
from closedloop.daemon.store.answers import answer_data
from closedloop.daemon.store.events import response_payload
from closedloop.daemon.store.records import (
    ResponseRecord,
    UnknownSend,
    response_record,
    to_db,
)

_EXPANDING: Any = bindparam("p_ids", expanding=True)
_SENDS_IN = batch_lookup("sends", _EXPANDING, postgresql=False)
_BEFORE_IN = batch_lookup("before", _EXPANDING, postgresql=False)
_UNSENT_HOOKS_IN = batch_lookup("hooks", _EXPANDING, postgresql=False)
_EVENT_INSERT = EVENTS.insert()


@dataclass(frozen=True)
class Answer:
    send_id: int
    score: int
    category: str
    now: datetime


class BatchStatements(Protocol):
    """How a round's statements run: through SQLAlchemy (`_ThroughEngine`) or on the
    driver's cursor (store/answer_driver.py); the same rows either way. Rows read are
    mappings of column name to value (SQLAlchemy's RowMapping or a dict)."""

    def sends(self, ids: Sequence[int]) -> dict[int, Any]: ...
    def before(self, ids: Sequence[int]) -> dict[int, tuple[int, str]]: ...
    def upsert(self, rows: list[dict[str, Any]]) -> list[Any]: ...
    def insert(self, table: str, rows: list[dict[str, Any]]) -> None: ...
    def follow_ups(self, rows: list[dict[str, Any]]) -> None: ...
    def unsent_hooks(self, ids: Sequence[int]) -> set[int]: ...
    def update_hooks(self, rows: list[dict[str, Any]]) -> None: ...


class _ThroughEngine:
    """The round's statements through SQLAlchemy's execution."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stmts = answer_statements(conn)

    def sends(self, ids: Sequence[int]) -> dict[int, Any]:
        return {row["id"]: row
                for row in self._conn.execute(_SENDS_IN, {"p_ids": ids}).mappings()}

    def before(self, ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        return {row.send_id: (row.score, row.category)
                for row in self._conn.execute(_BEFORE_IN, {"p_ids": ids})}

    def upsert(self, rows: list[dict[str, Any]]) -> list[Any]:
        return list(self._conn.execute(self._stmts.upsert, rows).mappings().all())

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        self._conn.execute(self._stmts.writeback if table == "writebacks" else _EVENT_INSERT,
                           rows)

    def follow_ups(self, rows: list[dict[str, Any]]) -> None:
        self._conn.execute(self._stmts.follow_up, rows)

    def unsent_hooks(self, ids: Sequence[int]) -> set[int]:
        look = _UNSENT_HOOKS_IN
        if self._conn.dialect.name == "postgresql":
            look = look.with_for_update()
        return set(self._conn.scalars(look, {"p_ids": list(ids)}))

    def update_hooks(self, rows: list[dict[str, Any]]) -> None:
        self._conn.execute(self._stmts.hook_update, rows)


def record_responses_in(conn: Connection, answers: Sequence[Answer]
                        ) -> list[ResponseRecord | UnknownSend]:
    """Each answer's response (or UnknownSend), in order, all in the caller's transaction."""
    return record_responses_with(conn, answers, _ThroughEngine(conn))


def record_responses_with(conn: Connection, answers: Sequence[Answer],
                          statements: BatchStatements) -> list[ResponseRecord | UnknownSend]:
    """`record_responses_in`, its statements run by `statements`."""
    results: list[ResponseRecord | UnknownSend | None] = [None] * len(answers)
    pending = list(enumerate(answers))
    while pending:
        seen: set[int] = set()
        now_round: list[tuple[int, Answer]] = []
        later: list[tuple[int, Answer]] = []
        for index, answer in pending:
            (later if answer.send_id in seen else now_round).append((index, answer))
            seen.add(answer.send_id)
        for index, outcome in _round(conn, statements, now_round):
            results[index] = outcome
        pending = later
    return [r for r in results if r is not None]


def _round(conn: Connection, run: BatchStatements, answers: list[tuple[int, Answer]]
           ) -> list[tuple[int, ResponseRecord | UnknownSend]]:
    """One answer per send: the statements once each for all of them."""
    ids = [a.send_id for _, a in answers]
    sends = run.sends(ids)
    known = [(i, a) for i, a in answers if a.send_id in sends]
    out: list[tuple[int, ResponseRecord | UnknownSend]] = [
        (i, UnknownSend(a.send_id)) for i, a in answers if a.send_id not in sends]
    if not known:
        return out
    before = run.before(ids)
    rows = run.upsert([
        {"p_send_id": a.send_id, "p_score": a.score, "p_category": a.category,
         "p_now": to_db(a.now)} for _, a in known])
    responses = {row["send_id"]: (response_record(row), row["inserted"]) for row in rows}
    writebacks: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    hooks: dict[int, tuple[dict[str, Any], datetime]] = {}
    for index, answer in known:
        send = sends[answer.send_id]
        response, inserted = responses[answer.send_id]
        now = to_db(answer.now)
        data = answer_data(send, response)
        row = {"source": send["source"], "contact_id": send["contact_id"],
               "send_id": send["id"], "created_at": now, "status": "pending", "attempts": 0,
               "next_attempt_at": None}
        writebacks.append({**row, "kind": "answer", "data": data})
        if send["ticket_id"]:
            hook = {**data, "ticket_id": send["ticket_id"]}
            hook.pop("sent_at")
            hooks[send["id"]] = (hook, now + store_answers.HOOK_SETTLE)  # read late: tests set it
        kind = _event_kind(conn, answer, before.get(answer.send_id), inserted)
        if kind:
            events.append({"kind": kind, "program": send["program"], "send_id": send["id"],
                           "email_norm": send["email_norm"],
                           "payload": response_payload(send, response), "created_at": now,
                           "routed_at": None})
        out.append((index, response))
    run.insert("writebacks", writebacks)
    run.follow_ups([
        {"p_send_id": a.send_id, "p_source": sends[a.send_id]["source"],
         "p_program": sends[a.send_id]["program"], "p_now": to_db(a.now)} for _, a in known])
    _queue_hooks(run, hooks, {r["send_id"]: r for r in writebacks})
    if events:
        run.insert("events", events)
    return out


def _event_kind(conn: Connection, answer: Answer, before: tuple[int, str] | None,
                inserted: bool) -> str | None:
    if inserted if conn.dialect.name == "postgresql" else before is None:
        return "response.created"
    if before is not None and before != (answer.score, answer.category):
        return "response.updated"
    return None


def _queue_hooks(run: BatchStatements, hooks: dict[int, tuple[dict[str, Any], datetime]],
                 rows: dict[int, dict[str, Any]]) -> None:
    """Replace each survey's unsent hook (locked first on PostgreSQL, so a replica's claim
    cannot slip between the look and the update), or queue a new one."""
    if not hooks:
        return
    unsent = run.unsent_hooks(list(hooks))
    if unsent:
        run.update_hooks([
            {"p_send_id": send_id, "p_data": hooks[send_id][0], "p_settled": hooks[send_id][1]}
            for send_id in unsent])
    fresh = [send_id for send_id in hooks if send_id not in unsent]
    if fresh:
        run.insert("writebacks", [
            {**rows[send_id], "kind": "hook", "data": hooks[send_id][0],
             "next_attempt_at": hooks[send_id][1]} for send_id in fresh])
