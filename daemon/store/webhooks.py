"""The webhook delivery queue: one row per (event, endpoint), claimed with a lease.

Routing turns new `events` rows into deliveries for the endpoints subscribed to them (once:
the event is marked routed in the same transaction, and (event, endpoint) is unique). A
deliverer claims due rows with a token and a lease (FOR UPDATE SKIP LOCKED on PostgreSQL,
BEGIN IMMEDIATE on SQLite), so replicas never post one delivery concurrently; only the
token's holder settles a row (delivered, retry at, dead). What to do after an HTTP answer is
the caller's policy (daemon/actions/webhooks); the store only records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    and_,
    delete,
    func,
    null,
    or_,
    select,
    true,
    update,
)

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.events import EVENTS
from closedloop.daemon.store.records import from_db, to_db
from closedloop.daemon.store.sends import chunks, insert_for
from closedloop.daemon.store.tables import Base

log = structlog.get_logger(__name__)

DELIVERIES: Table = Base.metadata.tables["webhook_deliveries"]
DELIVERY_STATUSES = ("pending", "delivered", "dead")
ROUTE_BATCH = 500
_ANY_UNROUTED = select(EVENTS.c.id).where(EVENTS.c.routed_at.is_(None)).limit(1)


@dataclass(frozen=True)
class Route:
    """An endpoint as routing sees it: its name, the kinds it takes, its programs (None: all)."""

    endpoint: str
    kinds: frozenset[str]
    programs: frozenset[str] | None = None

    def wants(self, kind: str, program: str | None) -> bool:
        return kind in self.kinds and (self.programs is None or program in self.programs)


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery with what to post: the event's kind, time and payload."""

    id: int
    event_id: int
    endpoint: str
    attempts: int  # tries made before this one
    kind: str
    created_at: datetime
    payload: dict[str, Any]
    token: str


class WebhooksMixin:
    """Event routing and the delivery queue of `Store`; each call is one short transaction."""

    engine: Engine

    def route_events(self, routes: Sequence[Route], now: datetime,
                     limit: int = ROUTE_BATCH) -> int:
        """Queue one delivery per subscribed endpoint for up to `limit` unrouted events and
        mark them routed; returns how many events were routed (0: nothing left)."""
        when = to_db(now)
        with reading(self.engine) as conn:  # nothing unrouted (most minutes): no write lock
            if conn.execute(_ANY_UNROUTED).first() is None:
                return 0
        with self.engine.begin() as conn:
            events = conn.execute(
                select(EVENTS.c.id, EVENTS.c.kind, EVENTS.c.program,
                       EVENTS.c.payload.is_not(None).label("quotable"))
                .where(EVENTS.c.routed_at.is_(None))
                .order_by(EVENTS.c.id).limit(limit).with_for_update(skip_locked=True)
            ).all()
            rows = [{"event_id": e.id, "endpoint": r.endpoint, "status": "pending",
                     "attempts": 0, "next_attempt_at": when, "created_at": when}
                    for e in events if e.quotable for r in routes if r.wants(e.kind, e.program)]
            if rows:
                conn.execute(insert_for(conn, DELIVERIES).on_conflict_do_nothing(
                    index_elements=["event_id", "endpoint"]), rows)
            for part in chunks([e.id for e in events]):
                conn.execute(update(EVENTS).where(EVENTS.c.id.in_(part))
                             .values(routed_at=when))
        return len(events)

    def claim_deliveries(self, now: datetime, limit: int, lease: timedelta,
                         endpoints: Sequence[str] | None = None) -> list[Delivery]:
        """Take up to `limit` due pending deliveries nobody holds, oldest event first; only
        to `endpoints` if given (an endpoint removed from the config keeps its rows)."""
        when = to_db(now)
        token = str(uuid.uuid4())
        free = or_(DELIVERIES.c.claim_token.is_(None), DELIVERIES.c.claimed_until <= when)
        with self.engine.begin() as conn:
            ids = list(conn.scalars(
                select(DELIVERIES.c.id)
                .where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= when,
                       free, true() if endpoints is None
                       else DELIVERIES.c.endpoint.in_(list(endpoints)))
                .order_by(DELIVERIES.c.event_id, DELIVERIES.c.id)
                .limit(limit).with_for_update(skip_locked=True)))
            if not ids:
                return []
            conn.execute(update(DELIVERIES)
                         .where(DELIVERIES.c.id.in_(ids), DELIVERIES.c.status == "pending")
                         .values(claim_token=token, claimed_until=when + lease))
            rows = conn.execute(
                select(DELIVERIES.c.id, DELIVERIES.c.event_id, DELIVERIES.c.endpoint,
                       DELIVERIES.c.attempts, EVENTS.c.kind, EVENTS.c.created_at,
                       EVENTS.c.payload)
                .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
                .where(DELIVERIES.c.claim_token == token)
                .order_by(DELIVERIES.c.event_id, DELIVERIES.c.id)).all()
        return [Delivery(id=r.id, event_id=r.event_id, endpoint=r.endpoint,
                         attempts=r.attempts, kind=r.kind, created_at=from_db(r.created_at),
                         payload=r.payload or {}, token=token) for r in rows]

    def settle_delivery(self, delivery: Delivery, now: datetime, *, status: str,
                        http_status: int | None = None, error: str | None = None,
                        retry_at: datetime | None = None) -> bool:
        """Record one try: `status` delivered, dead, or pending (again at `retry_at`).
        False when the claim was lost (lease ran out and another replica took the row)."""
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown delivery status {status!r}")
        values: dict[str, Any] = {
            "status": status, "attempts": DELIVERIES.c.attempts + 1, "last_status": http_status,
            "last_error": error, "claim_token": None, "claimed_until": None}
        if status == "delivered":
            values["delivered_at"] = to_db(now)
        if status == "pending":
            values["next_attempt_at"] = to_db(retry_at or now)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id == delivery.id, DELIVERIES.c.claim_token == delivery.token,
                       DELIVERIES.c.status == "pending")
                .values(values)).rowcount
        return bool(changed)

    def release_deliveries(self, token: str) -> int:
        """Hand back the pending rows `token` still holds, untried, for the next run."""
        with self.engine.begin() as conn:
            released: int = conn.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.claim_token == token, DELIVERIES.c.status == "pending")
                .values(claim_token=None, claimed_until=None)).rowcount
        return released

    def replay_deliveries(self, now: datetime, *, dead_only: bool = False,
                          since: datetime | None = None, event_id: int | None = None,
                          endpoints: Sequence[str] | None = None) -> int:
        """Queue settled deliveries again (same event id, so receivers can dedupe), now,
        with a fresh try budget; `dead_only` leaves delivered ones alone. Forgotten events
        (payload blanked) are never re-sent. Returns how many were queued."""
        which = [DELIVERIES.c.status == "dead" if dead_only
                 else DELIVERIES.c.status.in_(("dead", "delivered")),
                 EVENTS.c.payload.is_not(None)]
        if since is not None:
            which.append(EVENTS.c.created_at >= to_db(since))
        if event_id is not None:
            which.append(EVENTS.c.id == event_id)
        if endpoints is not None:
            which.append(DELIVERIES.c.endpoint.in_(list(endpoints)))
        with self.engine.begin() as conn:
            ids = list(conn.scalars(select(DELIVERIES.c.id)
                                    .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
                                    .where(and_(*which))))
            for part in chunks(ids):
                conn.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(part)).values(
                    status="pending", attempts=0, next_attempt_at=to_db(now),
                    claim_token=None, claimed_until=None, delivered_at=None, last_error=None,
                    last_status=None))
        log.info("store.webhooks_replayed", count=len(ids))
        return len(ids)

    def prune_events(self, before: datetime, limit: int = ROUTE_BATCH) -> int:
        """Delete up to `limit` routed events created before `before` whose deliveries are
        all settled (delivered or dead), with those deliveries; returns how many events.
        A pending delivery keeps its event, whatever its age."""
        with reading(self.engine) as conn:  # nothing to prune (most minutes): no write lock
            if conn.execute(prunable_events(before, 1, lock=False)).first() is None:
                return 0
        with self.engine.begin() as conn:
            ids = list(conn.scalars(prunable_events(before, limit)))
            for part in chunks(ids):
                conn.execute(delete(DELIVERIES).where(DELIVERIES.c.event_id.in_(part)))
                conn.execute(delete(EVENTS).where(EVENTS.c.id.in_(part)))
        return len(ids)

    def delivery_counts(self, conn: Connection) -> dict[str, int]:
        """webhooks.<endpoint>.<status> (every status, once an endpoint has deliveries),
        for `Store.counts`."""
        result: dict[str, int] = {}
        for endpoint, status, count in conn.execute(
                select(DELIVERIES.c.endpoint, DELIVERIES.c.status, func.count())
                .group_by(DELIVERIES.c.endpoint, DELIVERIES.c.status)):
            for name in DELIVERY_STATUSES:
                result.setdefault(f"webhooks.{endpoint}.{name}", 0)
            result[f"webhooks.{endpoint}.{status}"] = count
        return result

    def delivery_rows(self) -> list[dict[str, Any]]:
        """Every delivery with its event's kind and public id, for tests and the demo."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(DELIVERIES, EVENTS.c.kind)
                .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
                .order_by(DELIVERIES.c.id)).mappings()
            return [dict(row) for row in rows]

    def event_rows(self) -> list[dict[str, Any]]:
        """Every event (kind, payload, ...), oldest first, for tests and the demo."""
        with reading(self.engine) as conn:
            return [dict(row) for row in
                    conn.execute(select(EVENTS).order_by(EVENTS.c.id)).mappings()]


def forget_events(conn: Connection, address: str) -> int:
    """Inside `forget`: blank the payloads of the person's events and drop every delivery of
    them not yet made (pending or dead), so nothing quoting them is posted afterwards.
    Delivered rows stay (emptied events) so the counts of past posts never shrink."""
    ids = list(conn.scalars(select(EVENTS.c.id).where(EVENTS.c.email_norm == address)))
    dropped = 0
    for part in chunks(ids):
        dropped += conn.execute(delete(DELIVERIES).where(
            DELIVERIES.c.event_id.in_(part), DELIVERIES.c.status != "delivered")).rowcount
        conn.execute(update(EVENTS).where(EVENTS.c.id.in_(part))
                     .values(payload=null(), email_norm=None))
    return dropped


def prunable_events(before: datetime, limit: int, *, lock: bool = True) -> Select[tuple[int]]:
    """The ids `prune_events` deletes, oldest first. Ordered by created_at (then id), so the
    database walks ix_events_created_at from the oldest row and stops at `before`: ordered by
    id alone SQLite scanned every event each minute to find none past the 30-day retention
    (millions of rows at 100,000 tickets a day)."""
    unsettled = select(DELIVERIES.c.event_id).where(DELIVERIES.c.status == "pending")
    query = (select(EVENTS.c.id)
             .where(EVENTS.c.created_at < to_db(before), EVENTS.c.routed_at.is_not(None),
                    EVENTS.c.id.not_in(unsettled))
             .order_by(EVENTS.c.created_at, EVENTS.c.id).limit(limit))
    return query.with_for_update(skip_locked=True) if lock else query
