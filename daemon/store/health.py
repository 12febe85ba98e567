"""Each CRM source's health, and the queue figures /metrics and /readyz read at scrape time.

The health row lives in the store, not in memory, so every replica skips a paused source and
`closedloop status` (another process) shows it. Rows change only on a transition (or a
failed probe), never on every job run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, Table, func, select, text, update

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db, from_db_opt, to_db, to_db_opt
from closedloop.daemon.store.sends import SUPPRESSIONS, WRITEBACKS, insert_for
from closedloop.daemon.store.tables import Base

SOURCE_HEALTH: Table = Base.metadata.tables["source_health"]
OK, FAILING, PAUSED = "ok", "failing", "paused"
MAX_ERROR = 300  # characters of an error message kept for `status`


@dataclass(frozen=True)
class SourceState:
    """One source's last known health; a source with no row is OK."""

    source: str
    state: str = OK
    job: str | None = None
    error: str | None = None
    since: datetime | None = None
    next_check_at: datetime | None = None
    failures: int = 0

    @property
    def healthy(self) -> bool:
        """Only a paused source (token refused) is unhealthy: a failing one retries itself."""
        return self.state != PAUSED

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state, "job": self.job, "error": self.error,
                "since": self.since.isoformat() if self.since else None,
                "next_check_at": self.next_check_at.isoformat() if self.next_check_at else None,
                "failures": self.failures}


@dataclass(frozen=True)
class QueueStat:
    """Pending write-back rows of one source and queue ("contacts" or "hooks")."""

    source: str
    queue: str
    pending: int
    oldest: datetime


class HealthMixin:
    """Source-health and queue-figure methods of `Store`."""

    engine: Engine

    def source_states(self, sources: Sequence[str] = ()) -> dict[str, SourceState]:
        """The stored state of every source with a row, plus `sources` without one (OK)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(SOURCE_HEALTH)).mappings().all()
        found = {row["source"]: _state(row) for row in rows}
        return {**{name: SourceState(name) for name in sources}, **found}

    def set_source_state(self, source: str, state: str, now: datetime, *, job: str | None = None,
                         error: str | None = None, next_check_at: datetime | None = None,
                         failures: int = 0) -> SourceState:
        """Record a source's new state; `since` moves only when the state itself changes."""
        values = {"state": state, "job": job, "error": error[:MAX_ERROR] if error else None,
                  "next_check_at": to_db_opt(next_check_at), "failures": failures,
                  "updated_at": to_db(now)}
        with self.engine.begin() as conn:
            before = conn.execute(select(SOURCE_HEALTH.c.state, SOURCE_HEALTH.c.since)
                                  .where(SOURCE_HEALTH.c.source == source)).first()
            since = before.since if before is not None and before.state == state else to_db(now)
            if before is None:
                conn.execute(insert_for(conn, SOURCE_HEALTH).values(
                    source=source, since=since, **values).on_conflict_do_nothing())
            else:
                conn.execute(update(SOURCE_HEALTH).where(SOURCE_HEALTH.c.source == source)
                             .values(since=since, **values))
        return SourceState(source, state, job, values["error"],  # type: ignore[arg-type]
                           from_db(since), next_check_at, failures)

    def ping(self) -> None:
        """One trivial query: raises when the database does not answer."""
        with reading(self.engine) as conn:
            conn.execute(text("SELECT 1"))

    def writeback_queues(self) -> list[QueueStat]:
        """Pending write-back rows per source and queue, with the oldest row's creation time."""
        is_hook = WRITEBACKS.c.kind == "hook"
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(WRITEBACKS.c.source, is_hook, func.count(),
                       func.min(WRITEBACKS.c.created_at))
                .where(WRITEBACKS.c.status == "pending")
                .group_by(WRITEBACKS.c.source, is_hook)
            ).all()
        return [QueueStat(source, "hooks" if hook else "contacts", count, from_db(oldest))
                for source, hook, count, oldest in rows]

    def suppression_counts(self, conn: Connection, now: datetime) -> dict[str, int]:
        """Addresses suppressed now, per reason (unsubscribed, snoozed, bounced...), for status.

        A snooze that has ended no longer counts: the person can be surveyed again.
        """
        result = {"suppressions.unsubscribed": 0, "suppressions.snoozed": 0}
        active = (SUPPRESSIONS.c.until.is_(None)) | (SUPPRESSIONS.c.until > to_db(now))
        for reason, count in conn.execute(
            select(SUPPRESSIONS.c.reason, func.count()).where(active)
            .group_by(SUPPRESSIONS.c.reason)
        ):
            result[f"suppressions.{reason}"] = count
        return result


def _state(row: RowMapping) -> SourceState:
    return SourceState(row["source"], row["state"], row["job"], row["error"],
                       from_db(row["since"]), from_db_opt(row["next_check_at"]),
                       int(row["failures"] or 0))
