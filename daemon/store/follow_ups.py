"""The follow-up queue: one row per answer that may call for follow-up work in the CRM.

Every recorded click or comment (store/answers.py) upserts the send's row and bumps its
`version`, in the answer's own transaction: an answer is never stored without its follow-up
being considered. The actions job claims due rows under a token and a lease (like the
write-back's claims: FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite), so
replicas never create the same task twice, and settles only what its token still holds.
A settle records the version it wrote: an answer changed meanwhile leaves the row pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, RowMapping, Table, and_, func, or_, select, text, update

from closedloop.daemon.store.claims import LAPSED, advisory_key
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.events import emit_event, survey_payload
from closedloop.daemon.store.records import from_db, to_db
from closedloop.daemon.store.sends import SENDS, chunks, insert_for
from closedloop.daemon.store.tables import Base

log = structlog.get_logger(__name__)

FOLLOW_UPS: Table = Base.metadata.tables["follow_ups"]
RESPONSES: Table = Base.metadata.tables["responses"]


@dataclass(frozen=True)
class FollowUpWork:
    """A claimed follow-up row with what the job needs to render and place it."""

    id: int
    send_id: int
    source: str
    program: str
    version: int
    written_version: int
    crm_id: str | None
    attempts: int
    survey_type: str
    contact_id: str
    ticket_id: str | None
    ticket_subject: str | None
    owner_id: str | None  # at close time (the poll's read)
    team_id: str | None
    score: int | None  # None: the answer is gone (forgotten)
    category: str | None
    comment: str | None
    answered_at: datetime | None
    attributed: bool = False  # the ticket's holder at rating time was read (may be nobody)
    owner_at_answer: str | None = None
    team_at_answer: str | None = None
    lapsed: bool = False
    """Its last holder's claim ran out unsettled (died or stalled mid-pass): a create may
    have landed, so it is looked up before it is created again."""

    @property
    def external_id(self) -> str:
        """The marker / external id the CRM record carries, stable for this answer."""
        return f"cl-followup-{self.id}"


@dataclass(frozen=True)
class FollowUpClaim:
    token: str
    rows: list[FollowUpWork]


def enqueue_follow_up(conn: Connection, send: RowMapping, now: datetime) -> None:
    """Upsert the send's follow-up row: pending, due now, one version newer."""
    stmt = insert_for(conn, FOLLOW_UPS).values(
        send_id=send["id"], source=send["source"], program=send["program"], status="pending",
        version=1, written_version=0, attempts=0, next_attempt_at=now, created_at=now,
        updated_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["send_id"],
        set_={"version": FOLLOW_UPS.c.version + 1, "status": "pending",
              "next_attempt_at": now, "updated_at": now, "attempts": 0},
    ))


class FollowUpsMixin:
    """Follow-up queue methods of `Store`; each call is one short transaction."""

    engine: Engine

    def claim_follow_ups(self, source: str, now: datetime, limit: int,
                         lease: timedelta) -> FollowUpClaim:
        """Claim up to `limit` due pending rows of `source` that nobody holds."""
        now = to_db(now)
        token = str(uuid.uuid4())
        free = or_(FOLLOW_UPS.c.claim_token.is_(None), FOLLOW_UPS.c.claimed_until <= now)
        due = or_(FOLLOW_UPS.c.next_attempt_at.is_(None), FOLLOW_UPS.c.next_attempt_at <= now)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": advisory_key(f"closedloop.follow_ups:{source}")})
            found = conn.execute(
                select(FOLLOW_UPS.c.id, FOLLOW_UPS.c.claim_token.is_not(None))
                .where(FOLLOW_UPS.c.source == source, FOLLOW_UPS.c.status == "pending", due,
                       free)
                .order_by(FOLLOW_UPS.c.id).limit(limit)
                .with_for_update(skip_locked=True)).all()
            ids = [row_id for row_id, _ in found]
            lapsed = {row_id for row_id, held in found if held}
            rows: list[FollowUpWork] = []
            for part in chunks(ids):
                conn.execute(update(FOLLOW_UPS).where(FOLLOW_UPS.c.id.in_(part))
                             .values(claim_token=token, claimed_until=now + lease))
                rows += [_work(r, lapsed) for r in conn.execute(
                    select(FOLLOW_UPS, SENDS.c.survey_type, SENDS.c.contact_id,
                           SENDS.c.ticket_id, SENDS.c.subject, SENDS.c.owner_id,
                           SENDS.c.team_id, RESPONSES.c.score, RESPONSES.c.category,
                           RESPONSES.c.comment, RESPONSES.c.answered_at,
                           RESPONSES.c.owner_id_at_answer, RESPONSES.c.team_id_at_answer,
                           RESPONSES.c.attributed_at)
                    .join(SENDS, SENDS.c.id == FOLLOW_UPS.c.send_id)
                    .outerjoin(RESPONSES, RESPONSES.c.send_id == FOLLOW_UPS.c.send_id)
                    .where(FOLLOW_UPS.c.id.in_(part))).mappings()]
        rows.sort(key=lambda r: r.id)
        return FollowUpClaim(token=token, rows=rows)

    def settle_follow_up(self, token: str, row_id: int, version: int, status: str,
                         now: datetime, crm_id: str | None = None,
                         error: str | None = None) -> bool:
        """Record the outcome for `version`; a newer answer keeps the row pending (and the
        CRM id, so its update finds the task). False if `token` no longer holds the row."""
        values: dict[str, Any] = {"claim_token": None, "claimed_until": None,
                                  "updated_at": to_db(now), "last_error": error}
        if crm_id is not None:
            values["crm_id"] = crm_id
        if status == "done":
            values["written_version"] = version
        with self.engine.begin() as conn:
            held = and_(FOLLOW_UPS.c.id == row_id, FOLLOW_UPS.c.claim_token == token)
            before = conn.execute(select(FOLLOW_UPS.c.send_id, FOLLOW_UPS.c.crm_id)
                                  .where(held)).first()
            changed = conn.execute(update(FOLLOW_UPS).where(held).values(values)).rowcount
            if changed:
                conn.execute(update(FOLLOW_UPS)
                             .where(FOLLOW_UPS.c.id == row_id, FOLLOW_UPS.c.version == version)
                             .values(status=status))
            if changed and before is not None and before.crm_id is None and crm_id:
                _emit_created(conn, before.send_id, crm_id, now)
        return bool(changed)

    def retry_follow_up_later(self, token: str, row_id: int, error: str,
                              at: datetime, crm_id: str | None = None) -> bool:
        """Leave the row pending until `at`, one attempt more; only its holder can."""
        values: dict[str, Any] = {"claim_token": None, "claimed_until": None,
                                  "attempts": FOLLOW_UPS.c.attempts + 1,
                                  "next_attempt_at": to_db(at), "last_error": error}
        if crm_id is not None:
            values["crm_id"] = crm_id
        with self.engine.begin() as conn:
            changed = conn.execute(update(FOLLOW_UPS).where(
                FOLLOW_UPS.c.id == row_id, FOLLOW_UPS.c.claim_token == token,
                FOLLOW_UPS.c.status == "pending").values(values)).rowcount
        return bool(changed)

    def release_follow_ups(self, token: str, lapsed: bool = False) -> int:
        """Hand back what `token` still holds; `lapsed` (its holder raised mid-way, maybe
        after a create landed): as possibly done, so the next claim looks before creating."""
        values = ({"claimed_until": LAPSED} if lapsed
                  else {"claim_token": None, "claimed_until": None})
        with self.engine.begin() as conn:
            released: int = conn.execute(update(FOLLOW_UPS).where(
                FOLLOW_UPS.c.claim_token == token).values(**values)).rowcount
        return released

    def follow_up_crm_ids(self, send_ids: Sequence[int]) -> dict[int, str]:
        """send id -> the CRM id of its follow-up, for the sends that have one by now."""
        found: dict[int, str] = {}
        with reading(self.engine) as conn:
            for part in chunks(list(send_ids)):
                found.update((r.send_id, r.crm_id) for r in conn.execute(
                    select(FOLLOW_UPS.c.send_id, FOLLOW_UPS.c.crm_id).where(
                        FOLLOW_UPS.c.send_id.in_(part), FOLLOW_UPS.c.crm_id.is_not(None))))
        return found

    def follow_up_rows(self, send_ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Rows as dicts (for tests and status detail)."""
        with reading(self.engine) as conn:
            query = select(FOLLOW_UPS).order_by(FOLLOW_UPS.c.id)
            if send_ids:
                query = query.where(FOLLOW_UPS.c.send_id.in_(list(send_ids)))
            return [dict(r) for r in conn.execute(query).mappings()]

    def follow_up_counts(self, conn: Connection) -> dict[str, int]:
        """follow_ups.<status> -> rows, for `closedloop status`."""
        return {f"follow_ups.{status}": count for status, count in conn.execute(
            select(FOLLOW_UPS.c.status, func.count()).group_by(FOLLOW_UPS.c.status))}


def _work(row: RowMapping, lapsed: set[int]) -> FollowUpWork:
    answered = row["answered_at"]
    return FollowUpWork(lapsed=row["id"] in lapsed,
        id=row["id"], send_id=row["send_id"], source=row["source"], program=row["program"],
        version=row["version"], written_version=row["written_version"],
        crm_id=row["crm_id"], attempts=row["attempts"], survey_type=row["survey_type"],
        contact_id=row["contact_id"], ticket_id=row["ticket_id"],
        ticket_subject=row["subject"], owner_id=row["owner_id"], team_id=row["team_id"],
        score=row["score"], category=row["category"], comment=row["comment"],
        answered_at=from_db(answered) if answered is not None else None,
        attributed=row["attributed_at"] is not None,
        owner_at_answer=row["owner_id_at_answer"], team_at_answer=row["team_id_at_answer"])


def _emit_created(conn: Connection, send_id: int, crm_id: str, now: datetime) -> None:
    """`follow_up.created` for outbound webhooks, in the transaction that records the CRM id
    (so it is told once, whoever of the replicas created it)."""
    send = conn.execute(select(SENDS).where(SENDS.c.id == send_id)).mappings().first()
    if send is None:
        return
    response_id = conn.scalar(select(RESPONSES.c.id).where(RESPONSES.c.send_id == send_id))
    emit_event(conn, "follow_up.created",
               {**survey_payload(send), "response_id": response_id,
                "follow_up": {"id": crm_id, "crm": send["source"]}}, now, send_id=send_id)
