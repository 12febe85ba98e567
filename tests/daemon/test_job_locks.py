"""Job locks (jobs/locks.py) on a real store, SQLite and PostgreSQL: a held lock is renewed
while its job runs (one heartbeat thread serves every held lock), and never after release."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from closedloop.daemon.jobs.locks import job_lock
from closedloop.daemon.store import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=0.3)  # renewed every 0.1 s of real time


def _until(store: Store, name: str) -> datetime:
    return store.job_locks()[name][1]


def _waits_for(condition: object, limit: float = 10.0) -> bool:
    """Poll `condition()` until true or `limit` real seconds passed (no timing asserted)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_held_locks_are_renewed_and_released_ones_are_not(store: Store) -> None:
    """Two locks held at once (two jobs' threads): each lease is moved to the job clock's
    now + lease by the heartbeat; after each block ends, its row keeps the release's time
    however long the heartbeat goes on for the other."""
    clock = [NOW]
    later = NOW + timedelta(hours=1)
    with job_lock(store, "reports:refresh", "A", lambda: clock[0], lease=LEASE) as first:
        assert first is True
        assert _until(store, "reports:refresh") == NOW + LEASE
        release = threading.Event()
        held = threading.Event()

        def other_job() -> None:
            with job_lock(store, "themes:refresh", "A", lambda: clock[0], lease=LEASE):
                held.set()
                release.wait(10)

        thread = threading.Thread(target=other_job)
        thread.start()
        assert held.wait(10)
        clock[0] = later
        assert _waits_for(lambda: (_until(store, "reports:refresh"),
                                   _until(store, "themes:refresh")) == (later + LEASE,) * 2)
        release.set()
        thread.join(10)
    assert (_until(store, "reports:refresh"), _until(store, "themes:refresh")) == (later,) * 2
    clock[0] = later + timedelta(hours=1)
    time.sleep(4 * LEASE.total_seconds())  # several beats' worth: none may renew them
    assert (_until(store, "reports:refresh"), _until(store, "themes:refresh")) == (later,) * 2


def test_a_lock_taken_over_is_not_renewed_any_more(store: Store) -> None:
    """A holder whose lease ran out and whose lock another replica took: its heartbeat
    stops (the lock is lost), so the new holder's row is left as that holder wrote it."""
    clock = [NOW]
    with job_lock(store, "poll:hubspot", "A", lambda: clock[0], lease=LEASE):
        clock[0] = NOW + timedelta(hours=1)
        assert store.try_job_lock("poll:hubspot", "B", clock[0], timedelta(hours=2))
        time.sleep(4 * LEASE.total_seconds())  # several beats' worth
        assert store.job_locks()["poll:hubspot"] == ("B", clock[0] + timedelta(hours=2))
