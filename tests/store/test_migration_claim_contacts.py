"""Migration 0028: the partial index of the write-back claim while hooks wait.

Upgraded from 0021 with rows in the table and downgraded back, on a real SQLite file and a
real PostgreSQL schema. Pinned: the index exists after the upgrade, holds only pending
rows that are not hooks (its WHERE is the claim's `UNHOOKED` terms), the claim reads the
same rows through it, and the downgrade removes it and nothing else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import inspect, text

from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import alembic_config

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
_ROW = ("INSERT INTO writebacks (source, contact_id, kind, data, created_at, status, attempts)"
        " VALUES ('hubspot', :contact, :kind, '{}', '2026-12-01 08:00:00', :status, 0)")


def _indexes(store: Store) -> dict[str, str]:
    """writebacks' index name -> its definition (SQL as the database keeps it)."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE "
                                     "tablename = 'writebacks' AND schemaname = current_schema()"))
        else:
            rows = conn.execute(text("SELECT name, coalesce(sql, '') FROM sqlite_master "
                                     "WHERE type = 'index' AND tbl_name = 'writebacks'"))
        return {str(name): str(sql) for name, sql in rows}


def test_upgrade_adds_the_partial_index_and_downgrade_removes_only_it(old_url: str) -> None:
    """0021 → 0028: `ix_writebacks_claim_contacts` with the claim's WHERE, and a claim
    leaving hooks out takes the pending contact rows only; 0028 → 0021: the other indexes
    are those of 0021."""
    store = Store(old_url)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0021")
            for contact, kind, status in (("a", "hook", "pending"), ("a", "sent", "pending"),
                                          ("b", "answer", "done"), ("c", "answer", "pending")):
                conn.execute(text(_ROW), {"contact": contact, "kind": kind, "status": status})
        before = _indexes(store)
        store.migrate()
        after = _indexes(store)
        claim = store.claim_writebacks("hubspot", T0, 10, timedelta(minutes=5), ("hook",))
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0021")
        downgraded = _indexes(store)
        columns = {c["name"] for c in inspect(store.engine).get_columns("writebacks")}
    finally:
        store.dispose()
    assert "ix_writebacks_claim_contacts" not in before
    definition = re.sub(r"[()]|::text", "", after["ix_writebacks_claim_contacts"])
    assert "WHERE status = 'pending' AND kind <> 'hook'" in definition, definition
    assert set(after) - set(before) == {"ix_writebacks_claim_contacts"}
    assert [(r.contact_id, r.kind) for r in claim.rows] == [("a", "sent"), ("c", "answer")]
    assert downgraded == before
    assert {"status", "kind", "contact_id", "claim_token"} <= columns
