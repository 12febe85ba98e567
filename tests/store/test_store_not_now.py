"""A batch's unsent rows written in one transaction (store/not_now.py), SQLite and PostgreSQL.

Pinned: what `settle_not_now` writes equals, row for row, what the one-row methods wrote
(mark_skipped, cancel_send with its key freed, postpone_send), for twin rows; a row settled
meanwhile ('sent', 'outcome_unknown') is never skipped, and a row begun ('sending') is never
cancelled or postponed, while 'pending' and 'claimed' are (both sides of each condition).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from closedloop.daemon.store import NewSend, NotNow, Store

MakeSend = Callable[..., NewSend]
LEASE = timedelta(minutes=5)
COLUMNS = "idem_key, status, skip_reason, claimed_until, due_at, last_error"


def _rows(store: Store, keys: list[str]) -> list[tuple[Any, ...]]:
    """The columns the decisions write, keys made comparable (twin prefix stripped)."""
    with store.engine.connect() as conn:
        found = conn.execute(text(f"SELECT id, {COLUMNS} FROM sends ORDER BY id")).all()
    by_key = {r.idem_key.split(":cancelled:")[0]: r for r in found}
    out = []
    for key in keys:
        r = by_key[key]
        freed = r.idem_key.endswith(f":cancelled:{r.id}")
        out.append((freed, r.status, r.skip_reason, r.claimed_until, r.due_at, r.last_error))
    return out


def test_a_batch_writes_what_the_one_row_methods_wrote(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Twin rows (a: one transaction each, b: one for the batch), all claimed: a skip, a
    cancel (key freed: '<key>:cancelled:<id>'), a postpone with its note; equal columns."""
    keys = ["skip", "cancel", "defer"]
    store.add_sends([make_send(f"{twin}-{k}") for twin in "ab" for k in keys])
    rows = {r.idem_key: r.id for r in store.claim_due_sends(t0, 6, LEASE)}
    until = t0 + timedelta(hours=11)
    store.mark_skipped(rows["a-skip"], "coalesced")
    store.cancel_send(rows["a-cancel"], "ticket_reopened")
    store.postpone_send(rows["a-defer"], until, "deferred: quiet_hours")
    store.settle_not_now([NotNow(rows["b-defer"], "deferred: quiet_hours", until=until),
                          NotNow(rows["b-cancel"], "ticket_reopened", cancel=True),
                          NotNow(rows["b-skip"], "coalesced")])
    one_by_one = _rows(store, [f"a-{k}" for k in keys])
    batched = _rows(store, [f"b-{k}" for k in keys])
    assert batched == one_by_one
    assert [r[:3] for r in batched] == [(False, "skipped", "coalesced"),
                                        (True, "skipped", "ticket_reopened"),
                                        (False, "pending", None)]
    assert store.existing_idem_keys(["b-cancel", "b-skip"]) == {"b-skip"}


@pytest.mark.parametrize(("status", "skipped", "moved"), [
    ("pending", True, True), ("claimed", True, True), ("sending", True, False),
    ("sent", False, False), ("outcome_unknown", False, False)])
def test_settled_rows_are_never_skipped_and_begun_ones_never_moved(
        store: Store, make_send: MakeSend, t0: datetime, status: str, skipped: bool,
        moved: bool) -> None:
    """A skip leaves 'sent' and 'outcome_unknown' alone (as mark_skipped); a cancel or a
    postpone touches only 'pending' and 'claimed' rows (as cancel_send, postpone_send)."""
    store.add_sends([make_send(k) for k in ("s", "c", "p")])
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE sends SET status = :s"), {"s": status})
    with store.engine.connect() as conn:
        ids = {key: i for i, key in conn.execute(text("SELECT id, idem_key FROM sends")).all()}
    store.settle_not_now([NotNow(ids["s"], "coalesced"),
                          NotNow(ids["c"], "ticket_reopened", cancel=True),
                          NotNow(ids["p"], "deferred: send_day", until=t0 + timedelta(days=1))])
    with store.engine.connect() as conn:
        now = {key.split(":")[0]: (st, last) for key, st, last in conn.execute(
            text("SELECT idem_key, status, last_error FROM sends")).all()}
    assert now["s"][0] == ("skipped" if skipped else status)
    assert now["c"][0] == ("skipped" if moved else status)
    assert now["p"] == (("pending", "deferred: send_day") if moved else (status, None))
