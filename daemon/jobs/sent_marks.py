"""Dispatch records the relay's 250s in groups, not one transaction per mail.

A mail took three transactions: `begin_sending`, `end_of_data` right before the dot, and
`mark_sent` after the relay's 250 — the heaviest, with its event, write-back, ledger rows and
reminders. The first two are the at-most-once gates and stay one per mail. The third is only
bookkeeping of a mail that has left, so its marks wait here and ride on a later mail's
`begin_sending` transaction once SETTLE_EVERY have gathered or the oldest has waited
SETTLE_WITHIN (about half the store's CPU per mail on SQLite and on PostgreSQL: bench/loop.py).
Each claimed batch ends with a flush, so the next batch's rules read the ledger with them.

The check runs when a mail's 250 comes in and at the next mail's gate, so a mark waits at
most SETTLE_WITHIN plus one conversation with the relay; dispatch renews the lease of the
rows whose marks wait, as it does its claimed rows', so no replica's sweep takes them.

What a crash costs (the named window): a mail whose 250 is still here is 'awaiting_reply' in
the store, as between the dot and the reply, and its Message-ID is recorded already (a
bounce report finds it). The stale-lease sweep makes it 'outcome_unknown'
(interrupted_during_send): counted as sent by the cooldowns, never sent again, shown apart
by `closedloop status` — and, unlike a mail recorded as sent, without its reminder and its
'sent' write-back. At most SETTLE_EVERY mails are in that window instead of one. A flush
the database refuses (the job then fails) leaves them there too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from closedloop.daemon.store import SentMark, Store

SETTLE_EVERY = 25  # mails whose 250 is recorded in one transaction (25 → 50: within 3 %)
SETTLE_WITHIN = 1.0  # seconds the oldest waits before its group is recorded (see above)


class PendingMarks:
    """The marks of mails the relay took and the store does not know yet."""

    def __init__(self, store: Store, every: int | None = None, within: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._every = SETTLE_EVERY if every is None else every
        self._within = SETTLE_WITHIN if within is None else within
        self._clock = clock
        self._marks: list[SentMark] = []
        self._since = 0.0

    def __len__(self) -> int:
        return len(self._marks)

    def send_ids(self) -> list[int]:
        """The rows whose marks wait (dispatch renews their lease with its claim's)."""
        return [mark.send_id for mark in self._marks]

    def add(self, send_id: int, now: datetime, message_id: str,
            reminders: tuple[timedelta, ...]) -> None:
        """Keep one mail's mark; if the oldest has waited SETTLE_WITHIN already (a slow
        relay), record them all now rather than after one more conversation."""
        if not self._marks:
            self._since = self._clock()
        self._marks.append(SentMark(send_id, now, message_id, reminders))
        if self._clock() - self._since >= self._within:
            self.flush()

    def due(self) -> list[SentMark]:
        """The marks to record in the next transaction (none until a group is full or old)."""
        if len(self._marks) >= self._every or (
                self._marks and self._clock() - self._since >= self._within):
            return list(self._marks)
        return []

    def recorded(self, marks: list[SentMark]) -> None:
        """Forget `marks` once the transaction carrying them committed (a failed one keeps
        them here for the next try)."""
        del self._marks[:len(marks)]

    def begin_sending(self, send_id: int, now: datetime) -> bool:
        """The store's gate for the next mail, carrying the marks that are due."""
        marks = self.due()
        began = self._store.begin_sending(send_id, now, settle=marks)
        self.recorded(marks)
        return began

    def flush(self) -> None:
        """Record every mark now (end of a batch, or the job stopping)."""
        marks = list(self._marks)
        self._store.mark_sent_many(marks)
        self.recorded(marks)
