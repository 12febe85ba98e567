"""The statements on the answer's request path find their rows through an index: their cost
must not grow with the write-back backlog (issue "Cost at the limit", point 4)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, text

from closedloop.daemon.store import Store
from closedloop.daemon.store.answer_batch import _UNSENT_HOOKS_IN
from closedloop.daemon.store.answers import unsent_hook_update
from closedloop.daemon.store.sends import WRITEBACKS


def _backlog(store: Store, rows: int = 2_000) -> None:
    """PostgreSQL: a write-back backlog (pending rows of one source: the status index selects
    them all), analyzed, so the planner weighs the indexes as in a busy store; on an empty,
    never-analyzed table its choice followed whatever statistics earlier tests had left (the
    send_id test failed now and then). SQLite plans without statistics (none gathered)."""
    if store.engine.dialect.name != "postgresql":
        return
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(insert(WRITEBACKS), [
            {"source": "hubspot", "contact_id": f"c{i}", "send_id": None, "kind": "sent",
             "data": {}, "created_at": now, "status": "pending", "attempts": 0}
            for i in range(rows)])
    with store.engine.connect() as conn:
        conn.execute(text("ANALYZE writebacks"))
        conn.commit()


def _plan(store: Store, statement: object) -> str:
    _backlog(store)
    binds = {"literal_binds": True, "render_postcompile": True}  # IN lists too
    compiled = statement.compile(store.engine, compile_kwargs=binds)  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            rows = conn.execute(text(f"EXPLAIN {compiled}")).scalars().all()
        else:
            rows = [r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
        conn.rollback()
    return "\n".join(rows)


def test_answer_hook_update_uses_the_send_id_index(store: Store) -> None:
    """The hook row an answer rewrites is found by `ix_writebacks_send_id` (before migration
    0015 SQLite used the status index: every pending row of the source was scanned)."""
    plan = _plan(store, unsent_hook_update(42).values(attempts=0))
    assert "ix_writebacks_send_id" in plan, plan


def test_a_batchs_unsent_hook_lookup_uses_the_send_id_index(store: Store) -> None:
    """The group commit's look for the batch's unsent hooks (an IN list of send ids) is found
    by `ix_writebacks_send_id`: SQLite chose the status (or claim token) index instead and
    scanned every pending write-back on each batch of answers."""
    plan = _plan(store, _UNSENT_HOOKS_IN.params(p_ids=[1, 2, 3]))
    assert "ix_writebacks_send_id" in plan, plan
