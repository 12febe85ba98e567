"""The write-back claim while hooks wait (`skip_kinds=("hook",)`), through its own index.

Migration 0028 adds `ix_writebacks_claim_contacts`, the pending rows but hooks in claim
order, and the claim names its terms so the planner walks it: before, each claim walked past
every waiting hook of the contacts before its first row (write-back CPU per ticket grew with
the backlog: issue "Cost at the limit", point 4), and the UPDATE marking the claimed rows
reads them by primary key (SQLite scanned the status index's pending entries). Pinned
here, on SQLite and PostgreSQL: the plans, and that the claim's rows are the same as before
at every edge the new terms touch (due exactly now or a microsecond later, busy contacts,
other skipped kinds, lapsed rows, settled rows, a contact whose hook comes first).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, text, update

from closedloop.daemon.store import Store
from closedloop.daemon.store.claims import LAPSED
from closedloop.daemon.store.sends import WRITEBACKS

LEASE = timedelta(minutes=5)
US = timedelta(microseconds=1)


def _rows(store: Store, *rows: dict[str, Any]) -> list[int]:
    """Insert write-back rows (pending, untried unless given); their ids in order."""
    ids = []
    with store.engine.begin() as conn:
        for row in rows:
            ids.append(conn.execute(insert(WRITEBACKS).values(
                {"source": "hubspot", "send_id": None, "data": {}, "status": "pending",
                 "attempts": 0, **row})).inserted_primary_key[0])
    return ids


def _row(contact: str, kind: str, at: datetime, **more: Any) -> dict[str, Any]:
    return {"contact_id": contact, "kind": kind, "created_at": at, **more}


def test_contact_rows_behind_waiting_hooks_are_claimed_in_contact_order(
        store: Store, t0: datetime) -> None:
    """Hooks left out sit before, between and after the contacts' rows (a contact's own hook
    first, too): the claim takes every other due row, by contact then time then id, and the
    limit counts only those."""
    hook_a, a2, a1, hook_b, b1, c1, hook_c = _rows(
        store, _row("a", "hook", t0), _row("a", "answer", t0 + US), _row("a", "sent", t0),
        _row("b", "hook", t0), _row("b", "sent", t0), _row("c", "sent", t0),
        _row("c", "hook", t0 - US))
    first = store.claim_writebacks("hubspot", t0 + LEASE, 3, LEASE, ("hook",))
    second = store.claim_writebacks("hubspot", t0 + LEASE, 3, LEASE, ("hook",))
    assert [r.id for r in first.rows] == [a1, a2, b1]
    assert [r.id for r in second.rows] == [c1]
    everything = store.claim_writebacks("hubspot", t0 + LEASE, 10, LEASE)
    assert [r.id for r in everything.rows] == []  # a, b and c are held: their hooks wait
    store.release_writeback_claim(first.token)
    store.release_writeback_claim(second.token)
    everything = store.claim_writebacks("hubspot", t0 + LEASE, 10, LEASE)
    assert [r.id for r in everything.rows] == [hook_a, a1, a2, hook_b, b1, hook_c, c1]


def test_a_retried_row_due_exactly_now_is_claimed_and_a_microsecond_later_is_not(
        store: Store, t0: datetime) -> None:
    """`next_attempt_at <= now`, both sides of the edge, with hooks left out and without."""
    due, later = _rows(store, _row("a", "answer", t0, next_attempt_at=t0, attempts=1),
                       _row("b", "answer", t0, next_attempt_at=t0 + US, attempts=1))
    for skip in (("hook",), ()):
        claim = store.claim_writebacks("hubspot", t0, 10, LEASE, skip)
        assert [r.id for r in claim.rows] == [due]
        store.release_writeback_claim(claim.token)
    claim = store.claim_writebacks("hubspot", t0 + US, 10, LEASE, ("hook",))
    assert [r.id for r in claim.rows] == [due, later]


def test_busy_contacts_settled_rows_and_other_skipped_kinds_stay_out(
        store: Store, replica: Store, t0: datetime) -> None:
    """A contact held by another writer gets nothing (not even rows queued after its claim)
    until the lease's end, exactly (both sides); done and rejected rows are never claimed;
    skip_kinds with hooks and another kind leaves out both."""
    held, = _rows(store, _row("a", "sent", t0))
    other = replica.claim_writebacks("hubspot", t0, 10, LEASE, ("hook",))
    assert [r.id for r in other.rows] == [held]
    late, done, rejected, erase, b1 = _rows(
        store, _row("a", "answer", t0), _row("b", "sent", t0, status="done"),
        _row("b", "sent", t0, status="rejected"), _row("b", "erase", t0),
        _row("b", "answer", t0))
    claim = store.claim_writebacks("hubspot", other.until - US, 10, LEASE, ("hook", "erase"))
    assert [r.id for r in claim.rows] == [b1]
    store.release_writeback_claim(claim.token)
    claim = store.claim_writebacks("hubspot", other.until, 10, LEASE, ("hook", "erase"))
    assert [r.id for r in claim.rows] == [held, late, b1]
    assert {done, rejected, erase}.isdisjoint(r.id for r in claim.rows)


def test_a_lapsed_row_comes_back_lapsed_with_hooks_left_out(store: Store, t0: datetime) -> None:
    """A row still carrying an ended claim is claimed again and reads `lapsed`."""
    lapsed, fresh = _rows(store, _row("a", "answer", t0), _row("b", "answer", t0))
    with store.engine.begin() as conn:
        conn.execute(update(WRITEBACKS).where(WRITEBACKS.c.id == lapsed)
                     .values(claim_token="dead-writer", claimed_until=LAPSED))
    claim = store.claim_writebacks("hubspot", t0, 10, LEASE, ("hook",))
    assert [(r.id, r.lapsed) for r in claim.rows] == [(lapsed, True), (fresh, False)]


def _claim_plan(store: Store, t0: datetime, skip: tuple[str, ...],
                marker: str = "ORDER BY writebacks.contact_id") -> str:
    """The plan of the claim's statement containing `marker` (default: its SELECT) as
    claim_writebacks sends it, its own parameters; a limit of 100 rows of the 1,000 due, as
    2,000 of a large backlog."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any,
             _many: bool) -> None:
        if marker in statement:
            seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        store.release_writeback_claim(
            store.claim_writebacks("hubspot", t0, 100, LEASE, skip).token)
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    statement, params = seen[0]
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(f"EXPLAIN {statement}", params).scalars().all()
        else:
            rows = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                        params)]
        conn.rollback()
    return "\n".join(rows)


def test_the_claim_walks_the_index_without_hooks_when_it_leaves_them_out(
        store: Store, t0: datetime) -> None:
    """With hooks left out the claim reads `ix_writebacks_claim_contacts`; with every kind,
    `ix_writebacks_claim_order` (its ORDER BY needs no sort either way); the UPDATE that
    marks the claimed rows reads the primary key. PostgreSQL plans on an analyzed backlog
    (settled rows, waiting hooks, due rows), as a busy store has one."""
    rows = []
    for i in range(3000):
        contact = f"c{i:05d}"
        rows.append(_row(contact, "sent", t0, status="done" if i < 2000 else "pending"))
        if i % 3 == 0:
            rows.append(_row(contact, "hook", t0, next_attempt_at=t0 + LEASE))
    with store.engine.begin() as conn:
        conn.execute(insert(WRITEBACKS), [
            {"source": "hubspot", "send_id": None, "data": {}, "attempts": 0,
             "status": "pending", "next_attempt_at": None, **row} for row in rows])
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE writebacks"))
            conn.commit()
    contacts, everything = _claim_plan(store, t0, ("hook",)), _claim_plan(store, t0, ())
    marking = _claim_plan(store, t0, ("hook",), "SET claim_token")
    assert "ix_writebacks_claim_contacts" in contacts, contacts
    assert "ix_writebacks_claim_order" in everything, everything
    assert "TEMP B-TREE" not in contacts + everything
    assert "Sort" not in contacts + everything
    # Marking the claimed rows finds them by primary key: SQLite took the status index
    # (every pending row's entry read for each 500 ids) until `status || ''` hid it.
    assert "PRIMARY KEY" in marking or "pk_writebacks" in marking, marking
    assert "ix_writebacks_status" not in marking, marking
