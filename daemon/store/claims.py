"""Claims for replicas: write-back rows leased per contact, and leased job locks.

Several daemons may share one PostgreSQL database. Two things must then happen once:

- **Write-back rows.** A writer claims every due row of a contact at once, with a token and a
  lease. While a contact has rows under a live claim, nobody else claims any of its rows,
  not even rows queued after the claim: otherwise a replica holding an older answer could
  write it over the newer one another replica just wrote (the "blanked comment" race). Only
  the token's holder can settle its rows (done, rejected, retry later), and a writer renews
  its lease before each CRM call and stops if it lost any row. A killed writer's rows come
  back when the lease runs out. On PostgreSQL the claim runs under a transaction-scoped
  advisory lock per source (claims are short; this makes "contact not busy" and "claim it"
  one step) and takes the rows FOR UPDATE SKIP LOCKED; on SQLite BEGIN IMMEDIATE
  serializes claimers already.
- **Job locks.** One leased row per job and source ("poll:hubspot"), taken with a
  conditional upsert that works the same on SQLite and PostgreSQL: one replica polls a
  source at a time, and a replica skips a run another replica finished less than `gap` ago.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Table, and_, bindparam, or_, select, text, update

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import WriteBackRecord, from_db, to_db, writeback_record
from closedloop.daemon.store.sends import WRITEBACKS, chunks, insert_for
from closedloop.daemon.store.tables import UNHOOKED, Base

log = structlog.get_logger(__name__)

JOB_LOCKS: Table = Base.metadata.tables["job_locks"]
# Hooks left out: the partial index's own terms (implied by `kind NOT IN (.. 'hook' ..)` and
# `status = :pending`), as constants, so the planner can walk ix_writebacks_claim_contacts
# instead of passing every waiting hook in ix_writebacks_claim_order on each claim.
_UNHOOKED = text(UNHOOKED)
# `status || ''` (the same value) hides the status indexes from SQLite's planner, which took
# `status = 'pending'` over the claimed ids' primary keys and scanned every pending row's
# index entry for each 500 ids it marked (what made the claim's CPU grow with the backlog).
_STILL_PENDING = WRITEBACKS.c.status.op("||")("") == "pending"
LAPSED = datetime(2000, 1, 1, tzinfo=UTC)  # a lease that ended long ago (release, lapsed)
# The job locks' statements, built once (the reports and themes jobs take a lock hundreds
# of times a day; building the upsert cost more than running it). Bind names start "b_".
_TAKE_LOCK: dict[str, Any] = {}
_RELEASE_LOCK = (update(JOB_LOCKS)
                 .where(JOB_LOCKS.c.name == bindparam("b_name"),
                        JOB_LOCKS.c.holder == bindparam("b_holder"))
                 .values(locked_until=bindparam("b_now")))
_FINISH_LOCK = _RELEASE_LOCK.values(done_at=bindparam("b_now"), done_by=bindparam("b_holder"))


def _take_lock(conn: Connection) -> Any:
    """INSERT the lock row, or take it over when free and rested (see try_job_lock)."""
    stmt = _TAKE_LOCK.get(conn.dialect.name)
    if stmt is None:
        insert = insert_for(conn, JOB_LOCKS).values(
            name=bindparam("b_name"), holder=bindparam("b_holder"),
            locked_until=bindparam("b_until"))
        current = JOB_LOCKS.c
        free = or_(current.locked_until <= bindparam("b_now"),
                   current.holder == bindparam("b_holder"))
        rested = or_(current.done_at.is_(None), current.done_by == bindparam("b_holder"),
                     current.done_at <= bindparam("b_rested"))
        stmt = _TAKE_LOCK[conn.dialect.name] = insert.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": insert.excluded.holder,
                  "locked_until": insert.excluded.locked_until},
            where=and_(free, rested),
        ).returning(JOB_LOCKS.c.name)
    return stmt


@dataclass(frozen=True)
class WriteBackClaim:
    """Rows one writer holds until `until`; `token` settles them. `more`: rows were left
    for another claim (the limit was reached), so a writer that can goes on."""

    token: str
    rows: list[WriteBackRecord]
    until: datetime
    more: bool = False


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock (same in every replica)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _whole_contacts(found: Sequence[Any], limit: int) -> Sequence[Any]:
    """The first `limit` of `found` (id, held, contact_id rows in contact order) less the
    contact the limit cuts, unless it is the only one."""
    if len(found) <= limit:
        return found
    kept, cut = found[:limit], found[limit].contact_id
    return [row for row in kept if row.contact_id != cut] or kept


class ClaimsMixin:
    """Write-back claims and job locks of `Store`; each call is one short transaction."""

    engine: Engine

    # -- write-back claims -----------------------------------------------------------------

    def claim_writebacks(self, source: str, now: datetime, limit: int,
                         lease: timedelta, skip_kinds: Sequence[str] = ()) -> WriteBackClaim:
        """Claim up to `limit` due pending rows of `source`, of contacts nobody else holds.

        Ordered by contact then time, so a writer coalesces what it got. A contact whose
        rows `limit` would cut is left whole for the next claim (its rows cut off would wait
        for this one's settling and cost the contact a second write: 160 of 1,000,000 in
        the backlog benchmark), unless it is the only one claimed. Rows of
        `skip_kinds` are left for a later run (jobs/windows.py: hooks waiting their window).
        A row still carrying an ended claim comes back `lapsed`: its writer died (or lost
        the lease) between claim and settle, so the CRM may hold its write already.
        """
        now = to_db(now)
        token = str(uuid.uuid4())
        until = now + lease
        live = and_(WRITEBACKS.c.claim_token.is_not(None), WRITEBACKS.c.claimed_until > now)
        busy = (select(WRITEBACKS.c.contact_id)
                .where(WRITEBACKS.c.source == source, WRITEBACKS.c.status == "pending", live))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": advisory_key(f"closedloop.writeback:{source}")})
            found = conn.execute(
                select(WRITEBACKS.c.id, WRITEBACKS.c.claim_token.is_not(None),
                       WRITEBACKS.c.contact_id)
                .where(
                    WRITEBACKS.c.source == source,
                    WRITEBACKS.c.status == "pending",
                    or_(WRITEBACKS.c.next_attempt_at.is_(None),
                        WRITEBACKS.c.next_attempt_at <= now),
                    WRITEBACKS.c.contact_id.not_in(busy),
                    *([WRITEBACKS.c.kind.not_in(list(skip_kinds))] if skip_kinds else []),
                    *([_UNHOOKED] if "hook" in skip_kinds else []),
                )
                .order_by(WRITEBACKS.c.contact_id, WRITEBACKS.c.created_at, WRITEBACKS.c.id)
                .limit(limit + 1)  # one more: does the limit cut a contact?
                .with_for_update(skip_locked=True)
            ).all()
            more = len(found) > limit
            found = _whole_contacts(found, limit)
            ids = [row_id for row_id, _, _ in found]
            lapsed = {row_id for row_id, held, _ in found if held}
            rows: list[WriteBackRecord] = []
            for part in chunks(ids):
                rows += [writeback_record(row, lapsed) for row in conn.execute(
                    update(WRITEBACKS)
                    .where(WRITEBACKS.c.id.in_(part), _STILL_PENDING)
                    .values(claim_token=token, claimed_until=until)
                    .returning(*WRITEBACKS.c)
                ).mappings()]
        rows.sort(key=lambda r: (r.contact_id, r.created_at, r.id))
        if rows:
            log.debug("store.writebacks_claimed", source=source, count=len(rows))
        return WriteBackClaim(token=token, rows=rows, until=until, more=more)

    def renew_writeback_claim(self, token: str, until: datetime) -> int:
        """Extend the lease of the pending rows `token` still holds; returns how many."""
        with self.engine.begin() as conn:
            renewed: int = conn.execute(
                update(WRITEBACKS)
                .where(WRITEBACKS.c.claim_token == token, WRITEBACKS.c.status == "pending")
                .values(claimed_until=to_db(until))
            ).rowcount
        return renewed

    def release_writeback_rows(self, ids: Sequence[int], token: str) -> int:
        """Hand back some rows `token` holds, unwritten and as new, for anyone to claim now."""
        released = 0
        with self.engine.begin() as conn:
            for part in chunks(list(ids)):
                released += conn.execute(
                    update(WRITEBACKS)
                    .where(WRITEBACKS.c.id.in_(part), WRITEBACKS.c.claim_token == token,
                           WRITEBACKS.c.status == "pending")
                    .values(claim_token=None, claimed_until=None)
                ).rowcount
        return released

    def release_writeback_claim(self, token: str, lapsed: bool = False) -> int:
        """Hand back the rows `token` still holds, unwritten, for anyone to claim now.

        `lapsed`: the writer ended unexpectedly (a store error after a CRM write, say), so
        its rows may be written already: they keep the token under an ended lease and come
        back `lapsed` from the next claim, as a killed writer's do, instead of as new.
        """
        values = ({"claimed_until": LAPSED} if lapsed
                  else {"claim_token": None, "claimed_until": None})
        with self.engine.begin() as conn:
            released: int = conn.execute(
                update(WRITEBACKS)
                .where(WRITEBACKS.c.claim_token == token, WRITEBACKS.c.status == "pending")
                .values(**values)
            ).rowcount
        return released

    # -- job locks -------------------------------------------------------------------------

    def try_job_lock(self, name: str, holder: str, now: datetime, lease: timedelta,
                     gap: timedelta = timedelta(0)) -> bool:
        """Take (or re-take) the lock `name` for `holder` until now + lease; False if held.

        Free means: the lease ran out (or `holder` has it already), and the last run was
        finished by `holder` itself or more than `gap` ago. One INSERT .. ON CONFLICT DO
        UPDATE .. WHERE: on PostgreSQL a concurrent taker waits for the row and re-checks
        the condition, on SQLite the write lock serializes takers.
        """
        now = to_db(now)
        with self.engine.begin() as conn:
            taken = conn.execute(_take_lock(conn), {
                "b_name": name, "b_holder": holder, "b_until": now + lease, "b_now": now,
                "b_rested": now - gap}).first()
        return taken is not None

    def renew_job_lock(self, name: str, holder: str, until: datetime) -> bool:
        """Extend a lock `holder` still has; False if it lost it (lease ran out, taken)."""
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(JOB_LOCKS)
                .where(JOB_LOCKS.c.name == name, JOB_LOCKS.c.holder == holder)
                .values(locked_until=to_db(until))
            ).rowcount
        return bool(renewed)

    def release_job_lock(self, name: str, holder: str, now: datetime,
                         finished: bool = True) -> None:
        """Free the lock now; `finished` records the run as done (by `holder`, at `now`)."""
        with self.engine.begin() as conn:
            conn.execute(_FINISH_LOCK if finished else _RELEASE_LOCK,
                         {"b_name": name, "b_holder": holder, "b_now": to_db(now)})

    def job_locks(self) -> dict[str, tuple[str, datetime]]:
        """name -> (holder, locked until), for status and tests."""
        with reading(self.engine) as conn:
            return {row.name: (row.holder, from_db(row.locked_until))
                    for row in conn.execute(select(JOB_LOCKS))}

