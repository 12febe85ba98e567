"""How much CRM work waits, and since when: what the coalescing windows (jobs/windows.py) read.

Each query is one aggregate over an indexed filter (status and source), so asking costs far
less than the CRM call a window saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, bindparam, case, func, or_, select

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.events import EVENTS
from closedloop.daemon.store.notified import NOTIFIED
from closedloop.daemon.store.records import from_db_opt, to_db
from closedloop.daemon.store.sends import SENDS, WRITEBACKS
from closedloop.daemon.store.webhooks import DELIVERIES


@dataclass(frozen=True)
class Backlog:
    """`rows` waiting work items; `oldest`: when the longest-waiting one became due."""

    rows: int = 0
    oldest: datetime | None = None


@dataclass(frozen=True)
class Upcoming:
    """`rows` pending work items (due or not); `first`: the earliest due time among them;
    `lease_end`: the earliest end of a lease held on one (where the reader asks)."""

    rows: int = 0
    first: datetime | None = None
    lease_end: datetime | None = None


class BacklogsMixin:
    """Read-only backlog figures of `Store`."""

    engine: Engine

    def writeback_backlogs(self, source: str, now: datetime,
                           ) -> tuple[Backlog, Backlog, Backlog]:
        """(answer rows, other contact rows, ticket-hook rows) of `source` due now and not
        held by a writer; a row is due from its next attempt (a retry, a hook's settle time)
        or its creation. Hooks apart: their calls (a ticket update, a note) are not the
        contacts' write, so a full batch of sent dates must not carry them along."""
        at = to_db(now)
        ready = func.coalesce(WRITEBACKS.c.next_attempt_at, WRITEBACKS.c.created_at)
        free = or_(WRITEBACKS.c.claim_token.is_(None), WRITEBACKS.c.claimed_until <= at)
        due = and_(WRITEBACKS.c.source == source, WRITEBACKS.c.status == "pending", free,
                   or_(WRITEBACKS.c.next_attempt_at.is_(None),
                       WRITEBACKS.c.next_attempt_at <= at))
        kind = case((WRITEBACKS.c.kind == "answer", "answer"),
                    (WRITEBACKS.c.kind == "hook", "hook"), else_="other")
        with reading(self.engine) as conn:  # SQLite: BEGIN, not the write lock
            found = {str(row.kind): Backlog(int(row.n), from_db_opt(row.oldest))
                     for row in conn.execute(
                         select(kind.label("kind"), func.count().label("n"),
                                func.min(ready).label("oldest"))
                         .where(due).group_by(kind))}
        return (found.get("answer", Backlog()), found.get("other", Backlog()),
                found.get("hook", Backlog()))

    def notified_backlog(self, source: str, now: datetime) -> Backlog:
        """Notified tickets of `source` the intake could claim now, and the earliest notice."""
        at = to_db(now)
        free = or_(NOTIFIED.c.claim_token.is_(None), NOTIFIED.c.claimed_until <= at)
        with reading(self.engine) as conn:  # SQLite: BEGIN, not the write lock
            row = conn.execute(
                select(func.count(), func.min(NOTIFIED.c.next_at))
                .where(NOTIFIED.c.source == source, NOTIFIED.c.status == "pending",
                       NOTIFIED.c.next_at <= at, free)).one()
        return Backlog(int(row[0]), from_db_opt(row[1]))

    def due_backlog(self, now: datetime) -> Backlog:
        """Pending sends due now, and the earliest due time among them."""
        with reading(self.engine) as conn:  # SQLite: BEGIN, not the write lock
            row = conn.execute(
                select(func.count(), func.min(SENDS.c.due_at))
                .where(SENDS.c.status == "pending", SENDS.c.due_at <= to_db(now))).one()
        return Backlog(int(row[0]), from_db_opt(row[1]))

    # -- what the jobs' wake gates (store/wakes.py) learn from: the earliest coming work.
    # Statements built once (each a single snapshot): building one per call cost more than
    # running it (~190 vs ~80 us), and these run whenever a gate opens.

    def sends_upcoming(self) -> Upcoming:
        """Pending sends (their count, the earliest due time) and the earliest lease end of
        a row a dispatcher holds (claimed, sending, awaiting its reply): before both,
        dispatch has nothing to take or release unless something is written."""
        with reading(self.engine) as conn:
            row = conn.execute(_SENDS_UPCOMING).one()
        return Upcoming(int(row[0]), from_db_opt(row[1]), from_db_opt(row[2]))

    def notified_upcoming(self, source: str) -> Upcoming:
        """Pending notices of `source` (claimed or not) and the earliest `next_at`."""
        with reading(self.engine) as conn:
            row = conn.execute(_NOTIFIED_UPCOMING, {"b_source": source}).one()
        return Upcoming(int(row[0]), from_db_opt(row[1]))

    def writebacks_upcoming(self, source: str) -> tuple[Upcoming, Upcoming]:
        """(answer rows, every other row) of `source` pending, claimed or not, each with
        the earliest time one is due (its next attempt, a hook's settle time, or creation)."""
        with reading(self.engine) as conn:
            found = {bool(row[0]): Upcoming(int(row[1]), from_db_opt(row[2]))
                     for row in conn.execute(_WRITEBACKS_UPCOMING, {"b_source": source})}
        return found.get(True, Upcoming()), found.get(False, Upcoming())

    def webhooks_upcoming(self, deliveries: bool
                          ) -> tuple[bool, datetime | None, datetime | None]:
        """For the webhook job: whether an event waits to be routed, the oldest event's
        creation (its prune counts from it) and, with `deliveries`, the earliest next
        attempt of a pending delivery."""
        with reading(self.engine) as conn:
            row = conn.execute(_WEBHOOKS_UPCOMING).one()
        return row[0] is not None, from_db_opt(row[1]), from_db_opt(row[2]) if deliveries \
            else None


_HELD = ("claimed", "sending", "awaiting_reply")
_SENDS_UPCOMING = select(
    select(func.count()).where(SENDS.c.status == "pending").scalar_subquery(),
    select(func.min(SENDS.c.due_at)).where(SENDS.c.status == "pending").scalar_subquery(),
    select(func.min(SENDS.c.claimed_until))
    .where(SENDS.c.status.in_(_HELD), SENDS.c.claimed_until.is_not(None)).scalar_subquery())
_NOTIFIED_UPCOMING = select(func.count(), func.min(NOTIFIED.c.next_at)).where(
    NOTIFIED.c.source == bindparam("b_source"), NOTIFIED.c.status == "pending")
_ANSWER = WRITEBACKS.c.kind == "answer"
_WRITEBACKS_UPCOMING = (
    select(_ANSWER, func.count(),
           func.min(func.coalesce(WRITEBACKS.c.next_attempt_at, WRITEBACKS.c.created_at)))
    .where(WRITEBACKS.c.source == bindparam("b_source"), WRITEBACKS.c.status == "pending")
    .group_by(_ANSWER))
_WEBHOOKS_UPCOMING = select(
    select(EVENTS.c.id).where(EVENTS.c.routed_at.is_(None)).limit(1).scalar_subquery(),
    select(func.min(EVENTS.c.created_at)).scalar_subquery(),
    select(func.min(DELIVERIES.c.next_attempt_at))
    .where(DELIVERIES.c.status == "pending").scalar_subquery())
