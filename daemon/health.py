"""Each CRM source's health across job runs: pause a source whose token is refused.

Home Assistant style: one log line when a source starts failing, one when it recovers, never
one per run. Two kinds of failure:

- the CRM refuses the token or a scope (AuthError: 401/403): the source is **paused**. Its
  jobs skip it (no call, no log) while the other sources go on, /readyz answers 503 naming
  it and `closedloop status` shows it. The job that failed is tried again, alone, as a
  probe: at once by a process that has not tried it yet (a restart after fixing the token),
  else 5 minutes after the pause, then 10, 20, 40, up to every hour. A probe that works
  resumes every job of the source.
- anything else (5xx, timeouts, 429 past the retry budget): the source is **failing**; its
  jobs keep running on their schedule (the retry policy already backs off within a run).

The state lives in the store, so replicas share it and `closedloop status` can read it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import SourceState, Store
from closedloop.daemon.store.health import FAILING, OK, PAUSED
from closedloop.integration.errors import AuthError, ClosedLoopError

PROBE_FIRST = timedelta(minutes=5)
PROBE_MAX = timedelta(hours=1)

T = TypeVar("T")


def probe_delay(failures: int) -> timedelta:
    """Wait before the next probe after `failures` refused attempts in a row (1 → 5 min)."""
    doubled: timedelta = PROBE_FIRST * (2 ** min(max(failures - 1, 0), 16))
    return min(doubled, PROBE_MAX)


class SourceGuard:
    """Runs one source's job if its health allows, and records what came of it."""

    def __init__(self, store: Store, on_failure: Callable[[str, str], None] | None = None
                 ) -> None:
        self.store = store
        self._on_failure = on_failure  # (job, source): the metrics' failure counter
        self._probed: set[str] = set()  # sources this process has run a job of
        self._failing: set[tuple[str, str]] = set()  # (source, job) failing transiently
        self._lock = threading.Lock()

    def paused(self) -> set[str]:
        """The sources paused now (for dispatch, which skips their reopen checks)."""
        return {name for name, s in self.store.source_states().items() if s.state == PAUSED}

    def run(self, source: str, job: str, work: Callable[[], T], now: datetime) -> T | None:
        """`work()`, unless the source is paused and this is not its probe; None when it
        did not run or failed."""
        state = self.store.source_states().get(source, SourceState(source))
        if state.state == PAUSED:
            if job != state.job:
                return None
            if source in self._probed and state.next_check_at and now < state.next_check_at:
                return None
        first_probe = state.state == PAUSED and source not in self._probed
        self._probed.add(source)
        log = get_logger(job=job, source=source)
        try:
            result = work()
        except AuthError as exc:
            self._count(job, source)
            self._refused(source, job, state, exc, now, loud=first_probe)
            return None
        except ClosedLoopError as exc:
            self._count(job, source)
            if (source, job) not in self._failing:
                log.warning("source.failing", error=f"{type(exc).__name__}: {exc}")
                self._failing.add((source, job))
            if state.state == OK:
                self.store.set_source_state(source, FAILING, now, job=job,
                                            error=f"{type(exc).__name__}: {exc}")
            return None
        if state.state == PAUSED:
            log.info("source.resumed", paused_since=state.since.isoformat()
                     if state.since else None)
            self.store.set_source_state(source, OK, now)
        elif (source, job) in self._failing:
            log.info("source.recovered")
        self._failing.discard((source, job))
        if state.state == FAILING and not any(s == source for s, _ in self._failing):
            self.store.set_source_state(source, OK, now)
        return result

    def release(self, source: str, job: str, now: datetime) -> None:
        """`job` no longer runs for `source` (its programs were removed): a pause it caused
        could never be probed, so it ends."""
        state = self.store.source_states().get(source)
        if state is not None and state.state == PAUSED and state.job == job:
            get_logger(job=job, source=source).info("source.resumed", reason="job not run")
            self.store.set_source_state(source, OK, now)

    def _refused(self, source: str, job: str, state: SourceState, exc: AuthError,
                 now: datetime, *, loud: bool) -> None:
        """Pause the source (or keep it paused, the next probe later); log when it starts
        failing, and once per process that finds it still refused (`loud`)."""
        with self._lock:  # jobs run on several threads: one pause, one log line
            fresh = self.store.source_states().get(source, SourceState(source))
            if fresh.state == PAUSED and state.state != PAUSED:
                return  # another job (or replica) paused it while this one ran
            failures = state.failures + 1 if state.state == PAUSED else 1
            retry_at = now + probe_delay(failures)
            self._failing.discard((source, job))
            self.store.set_source_state(source, PAUSED, now, job=job, error=str(exc),
                                        next_check_at=retry_at, failures=failures)
        if state.state != PAUSED or loud:
            event = "source.paused" if state.state != PAUSED else "source.still_paused"
            get_logger(job=job, source=source).error(
                event, error=str(exc), next_check_at=retry_at.isoformat(),
                hint="the CRM refused the token: fix it and restart, or wait for the "
                     "next check")

    def _count(self, job: str, source: str) -> None:
        if self._on_failure is not None:
            self._on_failure(job, source)
