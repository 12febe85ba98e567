"""One replica at a time per job and source: a leased row in the store, kept alive while held.

Jobs that read a CRM source in full (poll, NPS cadence) must not run on every replica at
once: each would read the same pages, spend the same quota and meet the same 429s. The lock
is a row in `job_locks` (Store.try_job_lock), the same on SQLite and PostgreSQL. A heartbeat
thread renews it every third of its lease while the job runs, so a long poll keeps it and a
killed replica frees it when the lease runs out. A replica also skips a run that another one
finished less than `gap` ago (the job's interval, less some slack): three replicas then poll
as often as one.

Write-back takes no job lock: its rows are claimed per contact (Store.claim_writebacks), so
replicas share that work safely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store

LEASE = timedelta(minutes=2)
GAP_SHARE = 0.9  # of the job's interval: scheduler jitter must not let a second run in


@contextmanager
def job_lock(store: Store, name: str, holder: str, clock: Callable[[], datetime],
             lease: timedelta = LEASE, gap: timedelta = timedelta(0)) -> Iterator[bool]:
    """Hold the lock `name` for the block; yields False (run nothing) if someone else has it."""
    if not store.try_job_lock(name, holder, clock(), lease, gap):
        get_logger(lock=name).debug("job.lock_busy")
        yield False
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(store, name, holder, clock, lease, stop),
                            name=f"lock-{name}", daemon=True)
    beat.start()
    finished = False
    try:
        yield True
        finished = True
    finally:
        stop.set()
        beat.join()
        store.release_job_lock(name, holder, clock(), finished=finished)


def _heartbeat(store: Store, name: str, holder: str, clock: Callable[[], datetime],
               lease: timedelta, stop: threading.Event) -> None:
    while not stop.wait(lease.total_seconds() / 3):
        try:
            kept = store.renew_job_lock(name, holder, clock() + lease)
        except Exception:  # a database hiccup: the next beat tries again
            get_logger(lock=name).exception("job.lock_renew_failed")
            continue
        if not kept:
            get_logger(lock=name).warning("job.lock_lost")
            return
