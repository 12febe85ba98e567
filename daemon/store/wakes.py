"""Wake gates: an idle job skips its database read while nothing it reads can have changed.

At 1,000 tickets a day most of the ~13,000 job runs a day find nothing to do, and each
finding costs a read (~0.3-0.7 ms of CPU). A job that found nothing knows from that read the
earliest time anything can become due without a new write (`until`: a pending row's due time
plus its window, a lease's end). This process counts its own committed writes per table
(`WriteCounter`), so a gate stays shut only while

- no write of this process to the gate's tables was committed since the read,
- the clock has not reached `until`, and
- the read is younger than `max_stale`: the bound on how long a write by another process
  (another replica, a CLI command) can go unseen by this one. Each replica runs the same jobs
  and sees its own writes at once; the bound covers a writer that died before acting.

The gates live in memory: a restart starts every gate open (the first run reads).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event

_KEY = "closedloop_wrote"  # the tables a connection wrote in its open transaction
_ANY = "*"  # a write whose table could not be told: every gate opens
_WRITE = re.compile(r'\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?',
                    re.IGNORECASE)
_QUIET = ("SELECT", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "SET", "PRAGMA",
          "SHOW", "EXPLAIN")


class WriteCounter:
    """Per table, a stamp that changes after each commit of this process that wrote it.

    Statements are watched through the engine (every store write goes through it); the
    stamps move after the driver's COMMIT returns, so a reader that takes a gate's stamp
    before its read either sees the committed row or sees the stamp move later."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._stamps: dict[str, int] = {}
        self._seq = itertools.count(1)  # next() is atomic under the GIL
        self._lock = threading.Lock()
        if engine is not None:
            self._watch(engine)

    def _watch(self, engine: Engine) -> None:
        event.listen(engine, "after_cursor_execute", self._executed)
        commit = engine.dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:  # a COMMIT that raised may still have landed: wake the gates anyway
                self._committed(dbapi_connection)

        engine.dialect.do_commit = do_commit  # type: ignore[method-assign]

    def _executed(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        head = statement.lstrip()[:10].upper()
        if head.startswith(_QUIET):
            return
        found = _WRITE.match(statement)
        conn.info.setdefault(_KEY, set()).add(found.group(1).lower() if found else _ANY)

    def _committed(self, dbapi_connection: Any) -> None:
        info = getattr(dbapi_connection, "info", None)
        tables = info.pop(_KEY, None) if info is not None else None
        if tables:
            self.bump(tables)

    def bump(self, tables: Iterable[str]) -> None:
        """Record committed writes to `tables` (the engine's commits call this)."""
        with self._lock:
            for table in tables:
                self._stamps[table] = next(self._seq)

    def stamp(self, tables: Iterable[str]) -> int:
        """A value that changes whenever a write to any of `tables` is committed."""
        stamps = self._stamps
        return max(stamps.get(_ANY, 0), *(stamps.get(t, 0) for t in tables))


def mark_written(conn: Any, table: str) -> None:
    """A write to `table` on `conn` (a SQLAlchemy Connection) made on its driver's cursor,
    past the engine's statement events: counted at its commit like any other."""
    conn.info.setdefault(_KEY, set()).add(table)


class Gate:
    """One job's "nothing can be due before `until`" from its last read (see the module).

    Use: `if gate.shut(now): skip`; else `stamp = gate.stamp()` *before* the read, then
    `gate.learn(stamp, now, until)` when the read found nothing to do now (`until` None:
    nothing becomes due by time alone), or `gate.open()` when it found work.
    `settle`: writes become readable only this long after they were observed (a job that
    reads up to `now - lag`); the gate does not shut until a read `settle` after the
    last change it saw."""

    def __init__(self, counter: WriteCounter, tables: Iterable[str], max_stale: timedelta,
                 settle: timedelta = timedelta(0)) -> None:
        self.counter = counter
        self.tables = tuple(tables)
        self.max_stale = max_stale
        self.settle = settle
        # (stamp before the read, read at, until) of the read that shut the gate; None:
        # open. One attribute, so a job run from two threads (the intake's kick) never
        # sees half of another's state.
        self._held: tuple[int, datetime, datetime | None] | None = None
        self._seen: int | None = None  # the last stamp observed, and when
        self._changed_at: datetime | None = None

    def stamp(self) -> int:
        return self.counter.stamp(self.tables)

    def shut(self, now: datetime) -> bool:
        """Whether the job may skip its read at `now`."""
        stamp = self.stamp()
        if stamp != self._seen:
            self._seen, self._changed_at = stamp, now
        held = self._held
        if held is None or stamp != held[0]:
            return False
        _, read_at, until = held
        if now < read_at or now - read_at >= self.max_stale:
            return False  # a clock set back, or too old to trust against other writers
        return until is None or now < until

    def learn(self, stamp: int, now: datetime, until: datetime | None) -> None:
        """The read at `now` (stamp taken before it) found nothing due before `until`."""
        if self.settle and (self._changed_at is None or now - self._changed_at < self.settle
                            or stamp != self._seen):
            self._held = None
            return
        self._held = (stamp, now, until)

    def open(self) -> None:
        """The job has work (or did some): read again next time."""
        self._held = None
