"""The person-level facts the fatigue rules read, and the outbox moves they make.

Everything is read in batches for one claimed batch of sends (a handful of queries per 200
rows, whatever the rules), and every write is one short conditional UPDATE.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from closedloop.daemon.rules.book import LIVE, Flight, ParentState, PersonBook, Sibling
from closedloop.daemon.store.answers import RESPONSES
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import SendRecord, from_db, from_db_opt, send_record, to_db
from closedloop.daemon.store.sends import (
    AWAITING_REPLY,
    LEDGER,
    OUTCOME_UNKNOWN,
    SENDS,
    SUPPRESSIONS,
    chunks,
)

# What the rules see of the store's in-between states: a send whose outcome is unknown
# counts as sent (the safer of its two outcomes), one awaiting the relay's reply as sending.
AS_RULES_SEE = {OUTCOME_UNKNOWN: "sent", AWAITING_REPLY: "sending"}
_IN_FLIGHT = frozenset({"sending", AWAITING_REPLY})  # may reach the person any moment
HELD = "program paused"  # last_error of a row held for a paused program (status counts it)
DEFERRED = "deferred: "  # last_error prefix: waiting for quiet hours / an off day / a flight to end


@dataclass(frozen=True)
class OthersClaims:
    """How a caller about to send counts the rows other dispatchers hold (person_book).

    A claimed row may never be sent, but two senders that each read their rules before the
    other's send would both mail the person: so a claim is something to wait for, while its
    lease runs. `mine`: the caller's own claimed rows. `in_turn` (dispatch): a claim counts
    only for the rows after it in due order, as one dispatcher deciding in turn would;
    False (the widget, whose card every claim was read before): for all. `last_turn` and
    `look_again` (dispatch): on PostgreSQL a pending row before the turn of the caller's
    last claimed row that it did not get was passed over by its claim's SKIP LOCKED (claims
    take a prefix in due order): another's claim not committed yet, or a row queued since
    the claim (a wait of one look for nothing); counted as a claim until `look_again`.
    SQLite's claims hold the whole write lock: never half made, so never counted there."""

    mine: Collection[int] = ()
    in_turn: bool = True
    last_turn: tuple[datetime, str] | None = None
    look_again: datetime | None = None


class LedgerMixin:
    """Ledger, person and rule-driven outbox methods of `Store`."""

    engine: Engine

    def person_book(self, people: Sequence[str],
                    claims: OthersClaims | None = None) -> PersonBook:
        """The ledger rows and live survey rows of these people (normalized e-mails).

        A survey in flight ('sending', or 'awaiting_reply': its 250 not recorded yet, by
        another dispatcher or one whose group of marks the database refused) is a Flight:
        the cooldowns count it as sent at its hand-over (or, before it, at its lease's end),
        since the ledger only learns of it once it is recorded or swept and a second survey
        in between would break the cooldown the first one started; until its lease's end the
        rules wait on it rather than skip for it (rules/engine.py).

        `claims` given (dispatch, the widget), the rows other dispatchers only claimed are
        Flights too (OthersClaims says which count for whom); without (plan, bulk sends,
        which send nothing now), a claimed row holds nothing: it may never be sent."""
        ledger: dict[tuple[str, str], datetime] = {}
        rows: list[tuple[str, Sibling]] = []
        flights: list[tuple[str, Flight]] = []
        skipping = self.engine.dialect.name == "postgresql"  # claims may pass over rows
        with reading(self.engine) as conn:
            for part in chunks(sorted(set(people))):
                # The rows before the ledger: on PostgreSQL each statement sees what was
                # committed before it, so a mail recorded sent between the two is seen at
                # least once (in flight, then in the ledger); the other order saw it in
                # neither (the ledger before it, the row after as plain 'sent').
                for (send_id, person, key, program, closed_at, stored, moment, lease,
                     due_at) in conn.execute(
                    select(SENDS.c.id, SENDS.c.email_norm, SENDS.c.idem_key, SENDS.c.program,
                           SENDS.c.closed_at, SENDS.c.status,
                           func.coalesce(SENDS.c.sent_at, SENDS.c.claimed_until,
                                         SENDS.c.due_at), SENDS.c.claimed_until,
                           SENDS.c.due_at)
                    .where(SENDS.c.email_norm.in_(part), SENDS.c.kind == "survey",
                           SENDS.c.status.in_(sorted(LIVE | set(AS_RULES_SEE))))
                ):
                    status = AS_RULES_SEE.get(stored, stored)
                    rows.append((person, Sibling(key, program, from_db_opt(closed_at), status)))
                    if stored in _IN_FLIGHT:
                        at = from_db(moment)
                        flights.append((person, Flight(key, program, at,
                                                       from_db_opt(lease) or at)))
                    elif claims is not None and send_id not in claims.mine:
                        claim = _claim_of(claims, stored, from_db_opt(lease),
                                          (from_db(due_at), key), skipping)
                        if claim is not None:
                            turn = (from_db(due_at), key) if claims.in_turn else None
                            flights.append((person, Flight(key, program, claim, claim,
                                                           claim=True, turn=turn)))
                for person, program, at in conn.execute(
                    select(LEDGER.c.email_norm, LEDGER.c.program, LEDGER.c.last_sent_at)
                    .where(LEDGER.c.email_norm.in_(part))
                ):
                    ledger[(person, program)] = from_db(at)
        return PersonBook(ledger, rows, flights)

    def suppressed_among(self, people: Sequence[str], now: datetime) -> set[str]:
        """Which of these normalized addresses must not be mailed at `now`."""
        found: set[str] = set()
        with reading(self.engine) as conn:
            for part in chunks(sorted(set(people))):
                found.update(conn.scalars(
                    select(SUPPRESSIONS.c.email).where(
                        SUPPRESSIONS.c.email.in_(part),
                        or_(SUPPRESSIONS.c.until.is_(None), SUPPRESSIONS.c.until > to_db(now)),
                    )
                ))
        return found

    def suppressions_of(self, people: Sequence[str]) -> dict[str, datetime | None]:
        """Each suppressed address among these, with the end of its snooze (None: for good)."""
        found: dict[str, datetime | None] = {}
        with reading(self.engine) as conn:
            for part in chunks(sorted(set(people))):
                for email, until in conn.execute(
                    select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.until)
                    .where(SUPPRESSIONS.c.email.in_(part))
                ):
                    found[email] = from_db_opt(until)
        return found

    def parent_states(self, parent_ids: Sequence[int]) -> dict[int, ParentState]:
        """For reminders: whether each survey went out and whether it has an answer."""
        states: dict[int, ParentState] = {}
        with reading(self.engine) as conn:
            for part in chunks(sorted(set(parent_ids))):
                for send_id, sent_at, response_id in conn.execute(
                    select(SENDS.c.id, SENDS.c.sent_at, RESPONSES.c.id)
                    .outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                    .where(SENDS.c.id.in_(part))
                ):
                    states[send_id] = ParentState(from_db_opt(sent_at), response_id is not None)
        return states

    def cancel_send(self, send_id: int, reason: str) -> None:
        """Skip a row and free its idempotency key, so the same ticket closed again (a reopened
        ticket solved later) queues a new survey. The key keeps its old text plus the row id."""
        with self.engine.begin() as conn:
            conn.execute(
                update(SENDS)
                .where(SENDS.c.id == send_id, SENDS.c.status.in_(("pending", "claimed")))
                .values(status="skipped", skip_reason=reason, claimed_until=None,
                        idem_key=SENDS.c.idem_key + f":cancelled:{send_id}")
            )

    def postpone_send(self, send_id: int, until: datetime, note: str | None = None) -> None:
        """Back to pending, due at `until` (quiet hours, an off day, a paused program)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(SENDS)
                .where(SENDS.c.id == send_id, SENDS.c.status.in_(("pending", "claimed")))
                .values(status="pending", due_at=to_db(until), claimed_until=None,
                        last_error=note)
            )

    def due_sends_until(self, until: datetime) -> list[SendRecord]:
        """Pending and claimed rows due by `until`, due order: what `closedloop plan` plays."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(SENDS)
                .where(SENDS.c.status.in_(("pending", "claimed")), SENDS.c.due_at <= to_db(until))
                .order_by(SENDS.c.due_at, SENDS.c.id)
            ).mappings().all()
        return [send_record(row) for row in rows]

    def rule_counts(self, conn: Connection) -> dict[str, int]:
        """Pending rows held (paused program) or deferred (quiet hours, off days, a survey to
        the person in flight), for status."""
        held = conn.scalar(
            select(func.count()).select_from(SENDS)
            .where(and_(SENDS.c.status == "pending", SENDS.c.last_error == HELD))
        )
        deferred = conn.scalar(
            select(func.count()).select_from(SENDS)
            .where(and_(SENDS.c.status == "pending", SENDS.c.last_error.like(f"{DEFERRED}%")))
        )
        return {"sends.held": int(held or 0), "sends.deferred": int(deferred or 0)}


def _claim_of(claims: OthersClaims, status: str, lease: datetime | None,
              turn: tuple[datetime, str], skipping: bool) -> datetime | None:
    """When another dispatcher's claim on this row ends (None: it holds none): its lease,
    or for a pending row the caller's claim passed over, `look_again` (see OthersClaims)."""
    if status == "claimed":
        return lease
    if status == "pending" and skipping and claims.last_turn is not None \
            and claims.look_again is not None and turn < claims.last_turn:
        return claims.look_again
    return None
