"""A batch's unsent rows written in one transaction (store/not_now.py), SQLite and PostgreSQL.

Pinned: what `settle_not_now` writes equals, row for row, what the one-row methods wrote
(mark_skipped, postpone_send), for twin rows; it moves a row only while it is 'claimed' —
a row another dispatcher took meanwhile and began ('sending', 'awaiting_reply'), settled
('sent', 'outcome_unknown') or handed back ('pending') is left as it is, and the count says
how many moved.
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


def _rows(store: Store, keys: list[str]) -> list[tuple[Any, ...]]:
    """The columns the decisions write, in the order of `keys`."""
    with store.engine.connect() as conn:
        found = {r.idem_key: r for r in conn.execute(text(
            "SELECT idem_key, status, skip_reason, claimed_until, due_at, last_error "
            "FROM sends")).all()}
    return [tuple(found[key])[1:] for key in keys]


def test_a_batch_writes_what_the_one_row_methods_wrote(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Twin rows (a: one transaction each, b: one for the batch), all claimed: a skip and
    a postpone with its note; equal columns, and both moved."""
    keys = ["skip", "defer"]
    store.add_sends([make_send(f"{twin}-{k}") for twin in "ab" for k in keys])
    rows = {r.idem_key: r.id for r in store.claim_due_sends(t0, 4, LEASE)}
    until = t0 + timedelta(hours=11)
    store.mark_skipped(rows["a-skip"], "coalesced")
    store.postpone_send(rows["a-defer"], until, "deferred: quiet_hours")
    moved = store.settle_not_now([NotNow(rows["b-defer"], "deferred: quiet_hours", until),
                                  NotNow(rows["b-skip"], "coalesced")])
    batched = _rows(store, [f"b-{k}" for k in keys])
    assert (moved, batched) == (2, _rows(store, [f"a-{k}" for k in keys]))
    assert [r[:2] for r in batched] == [("skipped", "coalesced"), ("pending", None)]


@pytest.mark.parametrize("status", ["claimed", "pending", "sending", "awaiting_reply", "sent",
                                    "outcome_unknown"])
def test_only_a_row_still_claimed_moves(store: Store, make_send: MakeSend, t0: datetime,
                                        status: str) -> None:
    """A decision written late (its lease lapsed, another dispatcher took the row) must not
    skip or reschedule a mail that other dispatcher began or sent: only 'claimed' moves."""
    store.add_sends([make_send(k) for k in ("s", "p")])
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE sends SET status = :s"), {"s": status})
        ids = {key: i for i, key in conn.execute(text("SELECT id, idem_key FROM sends")).all()}
    moved = store.settle_not_now([NotNow(ids["s"], "coalesced"),
                                  NotNow(ids["p"], "deferred: send_day", t0 + timedelta(days=1))])
    after = [r[:1] + r[4:] for r in _rows(store, ["s", "p"])]
    if status == "claimed":
        assert (moved, after) == (2, [("skipped", None), ("pending", "deferred: send_day")])
    else:
        assert (moved, after) == (0, [(status, None), (status, None)])
