"""The statements an answer runs, built once per dialect and reused with parameters.

Building them per answer (coercing each value, proxying RETURNING's columns, generating the
cache key) cost 3 ms of CPU per answer, twenty times what SQLite takes to run them; the group
commit's writer runs them back to back, so that cost was the POST's ceiling.
Parameter names start with `p_`: SQLAlchemy reserves a column's own name in VALUES and SET.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from closedloop.daemon.store.tables import Base

RESPONSES: Table = Base.metadata.tables["responses"]
WRITEBACKS: Table = Base.metadata.tables["writebacks"]
FOLLOW_UPS: Table = Base.metadata.tables["follow_ups"]
EVENTS: Table = Base.metadata.tables["events"]
SENDS: Table = Base.metadata.tables["sends"]


def batch_lookup(kind: str, ids: Any, postgresql: bool) -> Select[Any]:
    """A batch's read by send ids (`ids`: an expanding bindparam, or one per id): "sends"
    their rows, "before" their answers so far, "hooks" their hook rows no writer has
    touched (locked on PostgreSQL). Both the SQLAlchemy and the driver path use these."""
    if kind == "sends":
        return select(SENDS).where(SENDS.c.id.in_(ids))
    if kind == "before":
        return select(RESPONSES.c.send_id, RESPONSES.c.score, RESPONSES.c.category).where(
            RESPONSES.c.send_id.in_(ids))
    # `status || ''` and `claim_token || ''` (same values, NULL stays NULL) hide those
    # columns' indexes from SQLite's planner, which otherwise picked `status = 'pending'`
    # over the IN list and scanned every pending write-back of the backlog on each batch.
    hooks = select(WRITEBACKS.c.send_id).where(
        WRITEBACKS.c.send_id.in_(ids), WRITEBACKS.c.kind == "hook",
        WRITEBACKS.c.status.op("||")("") == "pending", WRITEBACKS.c.attempts == 0,
        WRITEBACKS.c.claim_token.op("||")("").is_(None))
    return hooks.with_for_update() if postgresql else hooks


@dataclass(frozen=True)
class AnswerStatements:
    before: Select[Any]
    upsert: Insert
    writeback: Insert
    follow_up: Insert
    hook_update: Update
    event: Insert


_BUILT: dict[str, AnswerStatements] = {}


def answer_statements(conn: Connection) -> AnswerStatements:
    name = conn.dialect.name
    built = _BUILT.get(name)
    if built is None:
        built = _BUILT[name] = _build(name)
    return built


def _build(dialect: str) -> AnswerStatements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = bindparam("p_now", type_=RESPONSES.c.updated_at.type)
    upsert = insert(RESPONSES).values(
        send_id=bindparam("p_send_id"), score=bindparam("p_score"), comment=None,
        category=bindparam("p_category"), answered_at=now, updated_at=now)
    # Whether the upsert inserted: PostgreSQL's xmax is 0 for a fresh row; on SQLite the
    # write lock makes the SELECT before the upsert exact, so the column is a placeholder.
    inserted = (literal_column("xmax = 0", Boolean) if dialect == "postgresql"
                else literal(True)).label("inserted")
    returning = upsert.on_conflict_do_update(
        index_elements=["send_id"],
        set_={"score": upsert.excluded.score, "category": upsert.excluded.category,
              "updated_at": upsert.excluded.updated_at},
    ).returning(*RESPONSES.c, inserted)
    follow_now = bindparam("p_now", type_=FOLLOW_UPS.c.updated_at.type)
    follow_up = insert(FOLLOW_UPS).values(
        send_id=bindparam("p_send_id"), source=bindparam("p_source"),
        program=bindparam("p_program"), status="pending", version=1, written_version=0,
        attempts=0, next_attempt_at=follow_now, created_at=follow_now, updated_at=follow_now)
    follow_up = follow_up.on_conflict_do_update(
        index_elements=["send_id"],
        set_={"version": FOLLOW_UPS.c.version + 1, "status": "pending",
              "next_attempt_at": follow_now, "updated_at": follow_now, "attempts": 0})
    hook_update = update(WRITEBACKS).where(
        WRITEBACKS.c.send_id == bindparam("p_send_id"), WRITEBACKS.c.kind == "hook",
        WRITEBACKS.c.status == "pending", WRITEBACKS.c.attempts == 0,
        WRITEBACKS.c.claim_token.is_(None),
    ).values(data=bindparam("p_data", type_=WRITEBACKS.c.data.type),
             next_attempt_at=bindparam("p_settled", type_=WRITEBACKS.c.next_attempt_at.type))
    return AnswerStatements(
        before=select(RESPONSES.c.score, RESPONSES.c.category)
        .where(RESPONSES.c.send_id == bindparam("p_send_id")),
        upsert=returning,
        writeback=WRITEBACKS.insert(),
        follow_up=follow_up,
        hook_update=hook_update,
        event=EVENTS.insert().returning(EVENTS.c.id),
    )
