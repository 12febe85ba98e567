"""A batch's skips and deferrals, kept until its next lease renewal or its end, then written in
one transaction.

Dispatch decides every claimed row; those not sent now (skipped, deferred to quiet hours'
end, held for a paused program) took one transaction each. They wait here instead (the
rules of the rest of the batch read the in-memory book, as before) and are written with the
batch's end, before the next claim reads the store, or at the batch's next lease renewal
(every 10 s) if sooner: until then the rows stay 'claimed', and another dispatcher's rows
of the same people wait on a claim (rules/book.py); a crash leaves them claimed, and the
stale-lease sweep hands them back to be decided again. A decision written after its row's
lease lapsed (a stalled batch; another dispatcher took the row) changes nothing.
A row skipped because its ticket reopened is written at once instead (Store.cancel_send):
it frees the ticket's key, and a ticket solved again meanwhile must find it free.
"""

from __future__ import annotations

from datetime import datetime

from closedloop.daemon.store import NotNow, Store


class NotNowRows:
    """The batch's decided-but-unsent rows, written by `flush`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: list[NotNow] = []

    def __len__(self) -> int:
        return len(self._rows)

    def skip(self, send_id: int, reason: str) -> None:
        """Skipped for `reason` (Store.mark_skipped)."""
        self._rows.append(NotNow(send_id, reason))

    def postpone(self, send_id: int, until: datetime, note: str) -> None:
        """Back to pending, due at `until` (Store.postpone_send)."""
        self._rows.append(NotNow(send_id, note, until=until))

    def flush(self) -> int:
        """Write them all in one transaction (a refused one leaves them to the sweep);
        returns how many moved (a row taken by another dispatcher meanwhile does not)."""
        rows, self._rows = self._rows, []
        return self._store.settle_not_now(rows)
