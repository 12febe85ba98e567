"""Dispatch runs every 30 s: with nothing due and no lease run out, claim_due_sends and
release_stale only read (a peek on ix_sends_status_due_at) and take no write lock; with a
row due (or a lease out) they do their work as before, both sides of each edge."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from closedloop.daemon.store import Store

MakeSend = Callable[..., Any]
LEASE = timedelta(minutes=5)
US = timedelta(microseconds=1)


def test_an_idle_dispatch_takes_no_write_lock(tmp_path: Path, make_send: MakeSend,
                                              t0: datetime) -> None:
    """SQLite: another connection holds the write lock; with a row due only later and
    no lease out, both calls answer at once (a write transaction would wait, then fail)."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    try:
        store.add_sends([make_send("a", due_at=t0 + US)])
        other = sqlite3.connect(tmp_path / "state.db", timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert store.claim_due_sends(t0, 10, LEASE) == []
            assert store.release_stale(t0) == {"released": 0, "resent": 0, "interrupted": 0}
        finally:
            other.execute("ROLLBACK")
            other.close()
    finally:
        store.dispose()


def test_a_due_row_is_claimed_and_an_expired_lease_released(store: Store,
                                                            make_send: MakeSend,
                                                            t0: datetime) -> None:
    """due_at a microsecond later: nothing; at due_at: claimed. The lease a microsecond
    before its end: kept; at its end: released back to pending and claimable again."""
    store.add_sends([make_send("a", due_at=t0)])
    assert store.claim_due_sends(t0 - US, 10, LEASE) == []
    [row] = store.claim_due_sends(t0, 10, LEASE)
    assert store.release_stale(t0 + LEASE - US) == {"released": 0, "resent": 0,
                                                     "interrupted": 0}
    assert store.release_stale(t0 + LEASE) == {"released": 1, "resent": 0, "interrupted": 0}
    assert [r.id for r in store.claim_due_sends(t0 + LEASE, 10, LEASE)] == [row.id]


def test_an_idle_webhooks_run_takes_no_write_lock(tmp_path: Path, make_send: MakeSend,
                                                  t0: datetime) -> None:
    """SQLite, the write lock held elsewhere: with every event routed and none older than
    the cut, routing and pruning answer 0 at once; once the lock is free and the cut passes
    the event, it is pruned (the other side: tests/actions/test_webhook_events.py)."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    try:
        store.add_sends([make_send("a")])
        [row] = store.claim_due_sends(t0, 1, LEASE)
        store.mark_sent(row.id, t0, "<a@x>")  # one survey.sent event
        assert store.route_events([], t0) == 1
        other = sqlite3.connect(tmp_path / "state.db", timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert store.route_events([], t0) == 0
            assert store.prune_events(t0) == 0
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.prune_events(t0 + US) == 1
    finally:
        store.dispose()


def test_the_coalescing_windows_read_without_the_write_lock(tmp_path: Path,
                                                            make_send: MakeSend,
                                                            t0: datetime) -> None:
    """SQLite, the write lock held elsewhere: the backlogs the [coalescing] windows read
    every run (due sends, notified tickets, write-backs) answer at once, and right."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    try:
        store.add_sends([make_send("a", due_at=t0)])
        other = sqlite3.connect(tmp_path / "state.db", timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            due = store.due_backlog(t0)
            assert (due.rows, due.oldest) == (1, t0)
            assert store.due_backlog(t0 - US).rows == 0
            assert store.notified_backlog("hubspot", t0).rows == 0
            answers, others, hooks = store.writeback_backlogs("hubspot", t0)
            assert (answers.rows, others.rows, hooks.rows) == (0, 0, 0)
        finally:
            other.execute("ROLLBACK")
            other.close()
    finally:
        store.dispose()
