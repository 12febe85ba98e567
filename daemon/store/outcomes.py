"""What becomes of a send interrupted on its way to the relay: the outbox's outcome moves.

The final dot of the SMTP DATA step splits a send in two. Before it the relay holds nothing,
so a row a crash left in 'sending' is simply sent again. From the moment `end_of_data` commits
'awaiting_reply' (right before the dot) until the relay's answer is recorded, a crash or a cut
leaves the truth unknown: the row becomes 'outcome_unknown', the safer of its two outcomes.
It moves the ledger as a sent survey does (the cooldowns hold), gets no reminder and no 'sent'
write-back, is never sent again, and status counts it apart by where it broke (skip_reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, literal, select, update

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import UnknownSend, from_db, to_db
from closedloop.daemon.store.sends import (
    AWAITING_REPLY,
    INTERRUPTED,
    OUTCOME_UNKNOWN,
    SENDS,
    touch_ledger,
)

log = structlog.get_logger(__name__)


_END_OF_DATA = (  # built once: one per mail (bind names never clash with a column's)
    update(SENDS)
    .where(SENDS.c.id == bindparam("b_id"), SENDS.c.status == "sending",
           SENDS.c.attempts == bindparam("b_attempt"))
    .values(status=AWAITING_REPLY, sent_at=bindparam("b_now"),
            message_id=bindparam("b_message_id"))
)
# Read-only peek (ix_sends_status_due_at leads with status): a lease run out in any state?
_ANY_STALE = (select(SENDS.c.id)
              .where(SENDS.c.status.in_(("claimed", "sending", AWAITING_REPLY)),
                     SENDS.c.claimed_until.is_not(None),
                     SENDS.c.claimed_until <= bindparam("b_now")).limit(1))


class OutcomesMixin:
    """The outcome moves of `Store`; each call is one short transaction."""

    engine: Engine

    def end_of_data(self, send_id: int, attempt: int, now: datetime,
                    message_id: str | None = None) -> bool:
        """Record, right before the final dot, that the outcome is about to become unknown.

        Conditional on the row still being this attempt's 'sending' row: False means it was
        taken from us (a stale-lease sweep sent it back to pending, another replica holds it)
        and the dot must not go. `sent_at` keeps when the message was handed over,
        `message_id` the mail's Message-ID: a bounce report names it from then on, even
        while the relay's 250 waits to be recorded (jobs/sent_marks.py) or never is.
        """
        with self.engine.begin() as conn:
            result = conn.execute(_END_OF_DATA, {"b_id": send_id, "b_attempt": attempt,
                                                 "b_now": to_db(now),
                                                 "b_message_id": message_id})
        return result.rowcount == 1

    def mark_outcome_unknown(self, send_id: int, reason: str, now: datetime) -> None:
        """The relay may have the mail: count it as sent (ledger) without a reminder or a
        'sent' write-back, and never send it again. `reason` says where it broke."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                update(SENDS)
                .where(SENDS.c.id == send_id,
                       SENDS.c.status.in_(("claimed", "sending", AWAITING_REPLY)))
                .values(status=OUTCOME_UNKNOWN, skip_reason=reason, claimed_until=None,
                        sent_at=func.coalesce(SENDS.c.sent_at, _at(now)))
                .returning(*SENDS.c)
            ).mappings().all()
            if not rows and not conn.scalar(select(exists().where(SENDS.c.id == send_id))):
                raise UnknownSend(send_id)
            _count_as_sent(conn, rows)

    def release_stale(self, now: datetime) -> dict[str, int]:
        """Settle the rows of dispatchers that died or stalled past their lease.

        'claimed' and 'sending' rows go back to pending: the end of data never left, so the
        relay has nothing ('resent' counts the latter). 'awaiting_reply' rows may have been
        delivered: they become outcome_unknown (interrupted_during_send), counted as sent.
        """
        now = to_db(now)
        expired = and_(SENDS.c.claimed_until.is_not(None), SENDS.c.claimed_until <= now)
        with reading(self.engine) as conn:  # none stale (the usual case): no write lock
            if conn.execute(_ANY_STALE, {"b_now": now}).first() is None:
                return {"released": 0, "resent": 0, "interrupted": 0}
        with self.engine.begin() as conn:
            released = conn.execute(
                update(SENDS)
                .where(SENDS.c.status == "claimed", expired)
                .values(status="pending", claimed_until=None)
            ).rowcount
            resent = conn.execute(
                update(SENDS)
                .where(SENDS.c.status == "sending", expired)
                .values(status="pending", claimed_until=None,
                        last_error="interrupted before the end of data: sent again")
            ).rowcount
            unknown = conn.execute(
                update(SENDS)
                .where(SENDS.c.status == AWAITING_REPLY, expired)
                .values(status=OUTCOME_UNKNOWN, skip_reason=INTERRUPTED, claimed_until=None,
                        sent_at=func.coalesce(SENDS.c.sent_at, _at(now)))
                .returning(*SENDS.c)
            ).mappings().all()
            _count_as_sent(conn, unknown)
        counts = {"released": released, "resent": resent, "interrupted": len(unknown)}
        if any(counts.values()):
            log.info("store.stale_released", **counts)
        return counts


def _at(moment: datetime) -> Any:
    """A time as an SQL value of the sends' timestamp type (inside COALESCE)."""
    return literal(to_db(moment), type_=SENDS.c.sent_at.type)


def _count_as_sent(conn: Connection, rows: Sequence[Any]) -> None:
    """Outcome-unknown surveys move the ledger as a sent one would (at the hand-over time):
    the cooldowns hold. No reminder and no 'sent' write-back: neither may follow a mail
    that perhaps never arrived."""
    for row in rows:
        if row["kind"] == "survey" and row["email_norm"]:
            touch_ledger(conn, row["email_norm"], row["program"], row["source"],
                          from_db(row["sent_at"]))
