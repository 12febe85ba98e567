"""The scheduled jobs' wake gates (store/wakes.py): which tables each job's idle check
reads, and until when a check that found nothing holds.

- dispatch: `sends`; nothing to take before the earliest pending due time plus the `sends`
  window, nothing to release before the earliest lease end;
- intake (per source): `notified_tickets`; nothing before the earliest notice plus its window;
- write-back (per source): `writebacks`; nothing before the earliest answer row plus the
  `answers` window or the earliest other row plus the `writeback` window;
- outbound webhooks: `events`, `webhook_deliveries`; nothing to route, nothing to prune
  before the oldest event's retention ends, no delivery before its next attempt;
- the paced poll (per source): `cursors`; not before its stored pace says;
- reports and themes: their read-only checks (rollups.settled, themes' idle) depend on
  nothing but the rows, so they hold until a write (themes: CURSOR_LAG after it). Not a
  write to `cursors` alone: that table also holds the poll's cursors and pace, the alerts'
  and the other job's state, written every few minutes, and each job's own state rows there
  only ever move in the transaction that writes its other tables (a refresh, a rebuild,
  an invalidation), or to the values a settled check already compares equal (a dashboard's
  refresh that moved no count).

A backlog of FULL rows (the intake's: INTAKE_FULL) or more never shuts a gate (a window never
holds a full batch, and the count of due rows can reach it by time alone). Every gate re-reads
at least every STALE_RUNS runs of its job (the minute jobs: of the faster of `poll_every` and
`writeback_every`), which bounds how long a row written by another process waits unseen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from closedloop.daemon.jobs.windows import FULL, INTAKE_FULL, CoalescingSettings
from closedloop.daemon.store import Store, Upcoming
from closedloop.daemon.store.wakes import Gate

STALE_RUNS = 10  # a gate re-reads at least every this many runs of its job
REPORT_TABLES = ("sends", "responses", "report_facts", "report_rollups", "report_scopes")
THEME_TABLES = ("responses", "response_themes", "theme_facts", "theme_rollups")


def _earliest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


def _after(upcoming: Upcoming, window: timedelta) -> datetime | None:
    return upcoming.first + window if upcoming.first is not None else None


class JobWakes:
    """One runtime's gates (in memory: a restart, or another Runtime, starts them open)."""

    def __init__(self, store: Store, dispatch_every: timedelta, minute_every: timedelta,
                 settle: timedelta) -> None:
        self.store = store
        writes = store.writes
        self.dispatch = Gate(writes, ("sends",), dispatch_every * STALE_RUNS)
        self.reports = Gate(writes, REPORT_TABLES, minute_every * STALE_RUNS)
        self.themes = Gate(writes, THEME_TABLES, minute_every * STALE_RUNS, settle=settle)
        self._minute = minute_every
        self.webhooks = Gate(writes, ("events", "webhook_deliveries"),
                             minute_every * STALE_RUNS)
        self._poll: dict[str, Gate] = {}
        self._intake: dict[str, Gate] = {}
        self._writeback: dict[str, Gate] = {}

    def dispatch_idle(self, now: datetime, window: timedelta) -> bool:
        """True when dispatch has nothing to take or release at `now` (then it may skip)."""
        gate = self.dispatch
        if gate.shut(now):
            return True
        stamp = gate.stamp()
        sends = self.store.sends_upcoming()
        until = _earliest(_after(sends, window), sends.lease_end)
        return self._hold(gate, stamp, now, until, sends.rows)

    def intake_idle(self, source: str, now: datetime, window: timedelta) -> bool:
        """True when the intake of `source` has no notice that waited its window."""
        gate = self._per_source(self._intake, source, "notified_tickets")
        if gate.shut(now):
            return True
        stamp = gate.stamp()
        notices = self.store.notified_upcoming(source)
        return self._hold(gate, stamp, now, _after(notices, window), notices.rows, INTAKE_FULL)

    def webhooks_idle(self, now: datetime, retention: timedelta, deliveries: bool) -> bool:
        """True when the webhook job has no event to route, none to prune and (with
        `deliveries`: endpoints configured) no delivery due."""
        gate = self.webhooks
        if gate.shut(now):
            return True
        stamp = gate.stamp()
        unrouted, oldest, attempt = self.store.webhooks_upcoming(deliveries)
        until = _earliest(oldest + retention if oldest is not None else None, attempt)
        return self._hold(gate, stamp, now, now if unrouted else until, 0)

    def poll_idle(self, source: str, now: datetime,
                  read_next: Callable[[], datetime | None]) -> bool:
        """True when the paced poll of `source` is not due (`read_next`: the stored pace's
        next time, None when it has none: due now)."""
        gate = self._per_source(self._poll, source, "cursors")
        if gate.shut(now):
            return True
        stamp = gate.stamp()
        next_at = read_next()
        return self._hold(gate, stamp, now, now if next_at is None else next_at, 0)

    def writeback_idle(self, source: str, now: datetime, settings: CoalescingSettings) -> bool:
        """True when no write-back row of `source` waited its window."""
        gate = self._per_source(self._writeback, source, "writebacks")
        if gate.shut(now):
            return True
        stamp = gate.stamp()
        answers, others = self.store.writebacks_upcoming(source)
        until = _earliest(_after(answers, settings.answers), _after(others, settings.writeback))
        return self._hold(gate, stamp, now, until, answers.rows + others.rows)

    def _per_source(self, gates: dict[str, Gate], source: str, table: str) -> Gate:
        """`source`'s gate of a minute job reading `table` (made on first use)."""
        gate = gates.get(source)
        if gate is None:
            gate = gates[source] = Gate(self.store.writes, (table,), self._minute * STALE_RUNS)
        return gate

    @staticmethod
    def quiet(gate: Gate, now: datetime, idle: Callable[[], bool]) -> bool:
        """For a job whose own read says whether it is idle (themes, reports): True when the
        gate is shut or that read (stamp taken before it) finds nothing; then no due time
        ends the quiet, only a write or the staleness bound."""
        if gate.shut(now):
            return True
        stamp = gate.stamp()
        if idle():
            gate.learn(stamp, now, None)
            return True
        gate.open()
        return False

    @staticmethod
    def _hold(gate: Gate, stamp: int, now: datetime, until: datetime | None,
              rows: int, full: int = FULL) -> bool:
        if rows >= full or (until is not None and until <= now):
            gate.open()
            return False
        gate.learn(stamp, now, until)
        return True
