"""The statements on the answer's request path find their rows through an index: their cost
must not grow with the write-back backlog (issue "Cost at the limit", point 4)."""

from __future__ import annotations

from sqlalchemy import text

from closedloop.daemon.store import Store
from closedloop.daemon.store.answers import unsent_hook_update


def _plan(store: Store, statement: object) -> str:
    compiled = statement.compile(store.engine, compile_kwargs={"literal_binds": True})  # type: ignore[attr-defined]
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
