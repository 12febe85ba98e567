"""The write-back rows one round holds: settled with its claim's token, kept while it works.

A round of the write-back job works on a claim (Store.claim_writebacks). `Held` is what the
round settles its rows through: every call carries the claim's token, so a round that lost
rows to another writer (its lease ran out) changes none of them, and `keep()` renews the
lease before each CRM call and raises LostClaim when any unsettled row is no longer held.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from closedloop.daemon.store import Store, WriteBackClaim


class LostClaim(Exception):
    """Another writer took some of this round's rows (our lease ran out): stop writing."""


class Held:
    """The rows one claim holds: settled only with its token, renewed before each CRM call."""

    def __init__(self, store: Store, claim: WriteBackClaim, lease: timedelta,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.token = claim.token
        self.lease = lease
        self.clock = clock
        self.held = {row.id for row in claim.rows}

    def keep(self) -> None:
        """Renew the lease; raise LostClaim if any unsettled row is no longer ours."""
        renewed = self.store.renew_writeback_claim(self.token, self.clock() + self.lease)
        if renewed < len(self.held):
            raise LostClaim(f"{len(self.held) - renewed} of {len(self.held)} rows taken")

    def follow_up_crm_ids(self, send_ids: Sequence[int]) -> dict[int, str]:
        return self.store.follow_up_crm_ids(send_ids)

    def latest_answered_sends(self, source: str, contact_ids: Sequence[str]
                              ) -> dict[tuple[str, str, str], tuple[datetime, int]]:
        return self.store.latest_answered_sends(source, contact_ids)

    def unattributed_sends(self, send_ids: Sequence[int]) -> list[int]:
        return self.store.unattributed_sends(send_ids)

    def record_attribution(self, found: Mapping[int, tuple[str | None, str | None]],
                           now: datetime) -> int:
        return self.store.record_attribution(found, now)

    def mark_writebacks_done(self, ids: Sequence[int], now: datetime) -> int:
        """Mark done what this claim still holds; returns how many rows that was."""
        done = self.store.mark_writebacks_done(ids, now, token=self.token)
        self.held.difference_update(ids)
        return done

    def reject_writebacks(self, ids: Sequence[int], error: str) -> None:
        self.store.reject_writebacks(ids, error, token=self.token)
        self.held.difference_update(ids)

    def retry_writebacks_later(self, ids: Sequence[int], error: str,
                               next_attempt_at: datetime) -> None:
        self.store.retry_writebacks_later(ids, error, next_attempt_at, token=self.token)
        self.held.difference_update(ids)

    def hand_back(self, ids: Sequence[int]) -> None:
        """Release these rows now, unwritten and as new (not lapsed): this round does not
        write them, so a crash later in it must not make them look possibly written."""
        self.store.release_writeback_rows(ids, self.token)
        self.held.difference_update(ids)
