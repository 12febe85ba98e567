"""CRM change notifications in the store: event ids seen once, and the tickets they name.

The inbound endpoint (daemon/web/hooks) calls `accept_notification` once per request: in one
transaction it records the event ids it has not seen and queues the tickets of those events,
so a CRM's retry of an event queues nothing, and a crash between the two is impossible. The
intake job (daemon/jobs/notified.py) claims queued tickets with a token and a lease (FOR
UPDATE SKIP LOCKED on PostgreSQL), reads them from the CRM in batches and deletes the rows it
settled; a failed read backs off exponentially and gives up after MAX_ATTEMPTS (the row
stays, `dead`, counted by `closedloop status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from closedloop.daemon.store.records import to_db
from closedloop.daemon.store.sends import insert_for
from closedloop.daemon.store.tables import Base

HOOK_EVENTS: Table = Base.metadata.tables["hook_events"]
NOTIFIED: Table = Base.metadata.tables["notified_tickets"]
MAX_ATTEMPTS = 8
BACKOFF = timedelta(seconds=30)  # doubled per failed attempt, at most MAX_BACKOFF
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class NotifiedClaim:
    """Ticket ids one intake run holds until `until`; `token` settles them."""

    token: str
    ticket_ids: list[str]
    until: datetime


class NotifiedMixin:
    """Seen event ids and the notified-tickets queue of `Store`; each call one transaction."""

    engine: Engine

    def accept_notification(self, source: str, events: Sequence[tuple[str, Sequence[str]]],
                            now: datetime, keep: timedelta) -> tuple[int, int]:
        """Record each (event id, ticket ids) not seen before and queue its tickets.

        Returns (new events, tickets queued); an event id seen within `keep` adds nothing.
        """
        at = to_db(now)
        fresh_events = queued = 0
        with self.engine.begin() as conn:
            conn.execute(delete(HOOK_EVENTS).where(HOOK_EVENTS.c.expires_at < at))
            for event_id, ticket_ids in events:
                if not _first_sighting(conn, source, event_id, at, at + keep):
                    continue
                fresh_events += 1
                for ticket_id in dict.fromkeys(ticket_ids):
                    queued += _queue_ticket(conn, source, ticket_id, at)
        return fresh_events, queued

    def queue_notified(self, source: str, ticket_ids: Sequence[str], now: datetime,
                       since: Mapping[str, datetime] | None = None) -> int:
        """Queue tickets for the intake (no event id involved); returns how many were new.

        `since`: per ticket, when its change happened (the safety poll's finds: their
        closure), so the intake's window counts from then, not from when the poll saw it;
        never later than `now`."""
        at = to_db(now)
        when = {t: to_db(min(w, now)) for t, w in (since or {}).items()}
        with self.engine.begin() as conn:
            return sum(_queue_ticket(conn, source, t, when.get(t, at))
                       for t in dict.fromkeys(ticket_ids))

    def claim_notified(self, source: str, now: datetime, limit: int,
                       lease: timedelta) -> NotifiedClaim:
        """Claim up to `limit` due pending tickets of `source` nobody else holds."""
        at = to_db(now)
        token = str(uuid.uuid4())
        free = or_(NOTIFIED.c.claim_token.is_(None), NOTIFIED.c.claimed_until <= at)
        with self.engine.begin() as conn:
            rows = list(conn.execute(
                select(NOTIFIED.c.id, NOTIFIED.c.ticket_id)
                .where(NOTIFIED.c.source == source, NOTIFIED.c.status == "pending",
                       NOTIFIED.c.next_at <= at, free)
                .order_by(NOTIFIED.c.next_at, NOTIFIED.c.id).limit(limit)
                .with_for_update(skip_locked=True)))
            if rows:
                conn.execute(update(NOTIFIED).where(NOTIFIED.c.id.in_([r.id for r in rows]))
                             .values(claim_token=token, claimed_until=at + lease))
        return NotifiedClaim(token, [str(r.ticket_id) for r in rows], at + lease)

    def settle_notified(self, token: str) -> int:
        """The claim's tickets were read and queued (or found not closed): drop them."""
        with self.engine.begin() as conn:
            return conn.execute(delete(NOTIFIED).where(NOTIFIED.c.claim_token == token)).rowcount

    def held_notified(self, source: str, ticket_ids: Sequence[str], now: datetime) -> set[str]:
        """Of these tickets, those whose pending notice an intake holds under a live lease
        (one running now, or one that died: its lease has to run out before a retry)."""
        if not ticket_ids:
            return set()
        at = to_db(now)
        with self.engine.connect() as conn:
            return {str(t) for t in conn.scalars(select(NOTIFIED.c.ticket_id).where(
                NOTIFIED.c.source == source, NOTIFIED.c.status == "pending",
                NOTIFIED.c.claim_token.is_not(None), NOTIFIED.c.claimed_until > at,
                NOTIFIED.c.ticket_id.in_(list(dict.fromkeys(ticket_ids)))))}

    def retry_notified(self, token: str, now: datetime, error: str) -> int:
        """The claim's read failed: back off, or give up after MAX_ATTEMPTS (row kept)."""
        at = to_db(now)
        with self.engine.begin() as conn:
            rows = list(conn.execute(select(NOTIFIED.c.id, NOTIFIED.c.attempts)
                                     .where(NOTIFIED.c.claim_token == token)))
            for row in rows:
                attempts = row.attempts + 1
                delay = min(BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)
                conn.execute(update(NOTIFIED).where(NOTIFIED.c.id == row.id).values(
                    attempts=attempts, last_error=error[:500], claim_token=None,
                    claimed_until=None, next_at=at + delay,
                    status="dead" if attempts >= MAX_ATTEMPTS else "pending"))
        return len(rows)

    def notified_due(self, source: str, now: datetime) -> int:
        """Pending tickets of `source` the intake could claim now."""
        at = to_db(now)
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(NOTIFIED).where(
                NOTIFIED.c.source == source, NOTIFIED.c.status == "pending",
                NOTIFIED.c.next_at <= at,
                or_(NOTIFIED.c.claim_token.is_(None), NOTIFIED.c.claimed_until <= at))) or 0)

    def notified_counts(self, conn: Connection, now: datetime) -> dict[str, int]:
        """`notified.pending` / `notified.dead` for `closedloop status`, and `notified.held`:
        pending notices an intake holds under a live lease at `now` (one running now, or
        one killed between its claim and its queueing: the crash window, which the lease's
        end or the next safety poll closes). Zero ones left out."""
        rows = conn.execute(select(NOTIFIED.c.status, func.count())
                            .group_by(NOTIFIED.c.status))
        result = {f"notified.{status}": int(n) for status, n in rows if n}
        held = conn.scalar(select(func.count()).select_from(NOTIFIED).where(
            NOTIFIED.c.status == "pending", NOTIFIED.c.claim_token.is_not(None),
            NOTIFIED.c.claimed_until > to_db(now))) or 0
        if held:
            result["notified.held"] = int(held)
        return result


def _first_sighting(conn: Connection, source: str, event_id: str, at: datetime,
                    until: datetime) -> bool:
    """Insert the event id unless present; True when this call inserted it."""
    seen = conn.scalar(select(func.count()).select_from(HOOK_EVENTS).where(
        and_(HOOK_EVENTS.c.source == source, HOOK_EVENTS.c.event_id == event_id)))
    if seen:
        return False
    inserted = conn.execute(_insert_ignore(conn, HOOK_EVENTS, ["source", "event_id"]).values(
        source=source, event_id=event_id[:255], seen_at=at, expires_at=until)
        .returning(HOOK_EVENTS.c.event_id))
    return inserted.first() is not None


def _queue_ticket(conn: Connection, source: str, ticket_id: str, at: datetime) -> int:
    # RETURNING tells a row inserted from a conflict skipped on both dialects (psycopg's
    # rowcount is -1 for an INSERT ... ON CONFLICT DO NOTHING).
    result = conn.execute(_insert_ignore(conn, NOTIFIED, ["source", "ticket_id"]).values(
        source=source, ticket_id=str(ticket_id)[:64], status="pending", notified_at=at,
        next_at=at, attempts=0).returning(NOTIFIED.c.id))
    return 0 if result.first() is None else 1


def _insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on either dialect (two replicas may race)."""
    return insert_for(conn, table).on_conflict_do_nothing(index_elements=keys)
