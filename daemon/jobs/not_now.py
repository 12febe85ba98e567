"""A batch's skips and deferrals, kept until the batch ends and written in one transaction.

Dispatch decides every claimed row; those not sent now (skipped, cancelled because their
ticket reopened, deferred to quiet hours' end, held for a paused program) took one
transaction each. They wait here instead (the rules of the rest of the batch read the
in-memory book, as before) and are written with the batch's end, before the next claim
reads the store. Until then the rows stay 'claimed' and dispatch renews their lease with the
batch's; a crash leaves them claimed, and the stale-lease sweep hands them back to be
decided again: nothing was sent for them, so nothing can be sent twice.
"""

from __future__ import annotations

from datetime import datetime

from closedloop.daemon.store import NotNow, Store


class NotNowRows:
    """The batch's decided-but-unsent rows, written by `flush`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: list[NotNow] = []

    def send_ids(self) -> list[int]:
        """The rows waiting here (dispatch renews their lease with its claim's)."""
        return [row.send_id for row in self._rows]

    def skip(self, send_id: int, reason: str, *, cancel: bool = False) -> None:
        """Skipped for `reason`; `cancel` also frees its idempotency key (Store.cancel_send)."""
        self._rows.append(NotNow(send_id, reason, cancel=cancel))

    def postpone(self, send_id: int, until: datetime, note: str) -> None:
        """Back to pending, due at `until` (Store.postpone_send)."""
        self._rows.append(NotNow(send_id, note, until=until))

    def flush(self) -> None:
        """Write them all in one transaction (a refused one keeps them for the sweep)."""
        rows, self._rows = self._rows, []
        self._store.settle_not_now(rows)
