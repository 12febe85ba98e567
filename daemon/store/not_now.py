"""The rows dispatch decided not to send now, written a batch at a time.

A skipped, cancelled (its ticket reopened) or deferred row took one transaction each; the
batch's decisions now go in one, at the end of the batch (jobs/not_now.py). Nothing leaves
the system for them, so the rule of at most once is not involved: until they are written
the rows are still 'claimed' (renewed with the batch), and a crash leaves them to the
stale-lease sweep, which hands them back to be decided again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, String, and_, bindparam, cast, literal, or_, update

from closedloop.daemon.store.records import to_db
from closedloop.daemon.store.sends import OUTCOME_UNKNOWN, SENDS

# Plain comparisons, not IN: an executemany cannot expand a list parameter.
_UNSENT = or_(SENDS.c.status == "pending", SENDS.c.status == "claimed")
_NOT_SETTLED = and_(SENDS.c.status != "sent", SENDS.c.status != OUTCOME_UNKNOWN)
_SKIP = (update(SENDS)  # mark_skipped, many rows: never a settled row
         .where(SENDS.c.id == bindparam("b_id"), _NOT_SETTLED)
         .values(status="skipped", skip_reason=bindparam("b_reason"), claimed_until=None))
_CANCEL = (update(SENDS)  # cancel_send, many rows: the key is freed for a new closure
           .where(SENDS.c.id == bindparam("b_id"), _UNSENT)
           .values(status="skipped", skip_reason=bindparam("b_reason"), claimed_until=None,
                   idem_key=SENDS.c.idem_key + literal(":cancelled:")
                   + cast(SENDS.c.id, String)))
_POSTPONE = (update(SENDS)  # postpone_send, many rows
             .where(SENDS.c.id == bindparam("b_id"), _UNSENT)
             .values(status="pending", due_at=bindparam("b_until"), claimed_until=None,
                     last_error=bindparam("b_note")))


@dataclass(frozen=True)
class NotNow:
    """One row's decision: skipped (with its reason), cancelled, or postponed to `until`."""

    send_id: int
    reason: str  # the skip reason, or the postponed row's note
    cancel: bool = False  # skipped and its idempotency key freed (the ticket reopened)
    until: datetime | None = None  # postponed: due again then


class NotNowMixin:
    """`settle_not_now` of `Store`: one transaction for a batch's unsent rows."""

    engine: Engine

    def settle_not_now(self, rows: Sequence[NotNow]) -> None:
        """Write the decisions, one statement per kind, rows in id order (lock order)."""
        if not rows:
            return
        ordered = sorted(rows, key=lambda r: r.send_id)
        skips = [{"b_id": r.send_id, "b_reason": r.reason} for r in ordered
                 if r.until is None and not r.cancel]
        cancels = [{"b_id": r.send_id, "b_reason": r.reason} for r in ordered if r.cancel]
        later = [{"b_id": r.send_id, "b_until": to_db(r.until), "b_note": r.reason}
                 for r in ordered if r.until is not None]
        with self.engine.begin() as conn:
            for statement, params in ((_SKIP, skips), (_CANCEL, cancels), (_POSTPONE, later)):
                if params:
                    conn.execute(statement, params)
