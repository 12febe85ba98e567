"""The rows dispatch decided not to send now, written a batch at a time.

A skipped or deferred row took one transaction each; the batch's decisions now go in one,
at the batch's next lease renewal or its end (jobs/not_now.py). Until they are written the
rows are still 'claimed' (under the batch's lease), and a crash leaves them to the sweep, which
hands them back to be decided again. Each statement moves a row only while it is still
'claimed': if a stall let its lease lapse and another dispatcher took it (and perhaps began
sending it), the late decision changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, update

from closedloop.daemon.store.records import to_db
from closedloop.daemon.store.sends import SENDS

_HELD = SENDS.c.status == "claimed"
_SKIP = (update(SENDS)  # mark_skipped, many rows
         .where(SENDS.c.id == bindparam("b_id"), _HELD)
         .values(status="skipped", skip_reason=bindparam("b_reason"), claimed_until=None))
_POSTPONE = (update(SENDS)  # postpone_send, many rows
             .where(SENDS.c.id == bindparam("b_id"), _HELD)
             .values(status="pending", due_at=bindparam("b_until"), claimed_until=None,
                     last_error=bindparam("b_note")))


@dataclass(frozen=True)
class NotNow:
    """One row's decision: skipped (with its reason), or postponed to `until`."""

    send_id: int
    reason: str  # the skip reason, or the postponed row's note
    until: datetime | None = None  # postponed: due again then


class NotNowMixin:
    """`settle_not_now` of `Store`: one transaction for a batch's unsent rows."""

    engine: Engine

    def settle_not_now(self, rows: Sequence[NotNow]) -> int:
        """Write the decisions of rows still 'claimed', one statement per kind, rows in id
        order (lock order); returns how many moved (the others were taken meanwhile)."""
        if not rows:
            return 0
        ordered = sorted(rows, key=lambda r: r.send_id)
        skips = [{"b_id": r.send_id, "b_reason": r.reason} for r in ordered if r.until is None]
        later = [{"b_id": r.send_id, "b_until": to_db(r.until), "b_note": r.reason}
                 for r in ordered if r.until is not None]
        moved = 0
        with self.engine.begin() as conn:
            for statement, params in ((_SKIP, skips), (_POSTPONE, later)):
                if params:
                    moved += max(conn.execute(statement, params).rowcount, 0)
        return moved
