"""One replica at a time per job and source: a leased row in the store, kept alive while held.

Jobs that read a CRM source in full (poll, NPS cadence) must not run on every replica at
once: each would read the same pages, spend the same quota and meet the same 429s. The lock
is a row in `job_locks` (Store.try_job_lock), the same on SQLite and PostgreSQL. A heartbeat
renews it every third of its lease while the job runs, so a long poll keeps it and a killed
replica frees it when the lease runs out. One heartbeat thread per process serves every held
lock (a thread started and joined per hold cost a third of taking the lock, and the reports
and themes jobs take theirs hundreds of times a day). A replica also skips a run that another
one finished less than `gap` ago (the job's interval, less some slack): three replicas then
poll as often as one.

Write-back takes no job lock: its rows are claimed per contact (Store.claim_writebacks), so
replicas share that work safely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    beat = _Beat(store, name, holder, clock, lease)
    _BEATS.add(beat)
    finished = False
    try:
        yield True
        finished = True
    finally:
        _BEATS.remove(beat)  # after it returns no renewal of this hold runs or follows
        store.release_job_lock(name, holder, clock(), finished=finished)


@dataclass(eq=False)
class _Beat:
    """One held lock's renewals: every third of its lease, until removed or lost."""

    store: Store
    name: str
    holder: str
    clock: Callable[[], datetime]
    lease: timedelta
    due: float = 0.0  # time.monotonic() of the next renewal
    active: bool = True
    guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def every(self) -> float:
        return self.lease.total_seconds() / 3

    def renew(self) -> bool:
        """Renew now; False when the lock is lost (stop renewing it)."""
        with self.guard:
            if not self.active:
                return False
            self.due = time.monotonic() + self.every
            try:
                kept = self.store.renew_job_lock(self.name, self.holder,
                                                 self.clock() + self.lease)
            except Exception:  # a database hiccup: the next beat tries again
                get_logger(lock=self.name).exception("job.lock_renew_failed")
                return True
            if not kept:
                get_logger(lock=self.name).warning("job.lock_lost")
            return kept


class _Beats:
    """The process's heartbeat thread (started on first use, a daemon) and its locks."""

    def __init__(self) -> None:
        self._held: set[_Beat] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, beat: _Beat) -> None:
        beat.due = time.monotonic() + beat.every
        with self._lock:
            self._held.add(beat)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lock-heartbeat",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, beat: _Beat) -> None:
        with beat.guard:  # waits for a renewal in flight
            beat.active = False
        with self._lock:
            self._held.discard(beat)

    def _run(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                beats = list(self._held)
            now = time.monotonic()
            for beat in beats:
                if beat.due <= now and not beat.renew():
                    self.remove(beat)
            with self._lock:
                dues = [beat.due for beat in self._held]
            self._wake.wait(max(0.0, min(dues) - time.monotonic()) if dues else None)


_BEATS = _Beats()
