"""The notified-tickets queue and the seen event ids (store/notified.py), on SQLite and
PostgreSQL: one row per ticket, claims with a lease, backoff, dead rows kept and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from closedloop.daemon.store import Store
from closedloop.daemon.store.notified import BACKOFF, MAX_ATTEMPTS

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=3)
LEASE = timedelta(minutes=5)


def test_an_event_is_accepted_once_and_its_tickets_queued_once(store: Store) -> None:
    """A repeated event id adds nothing; two events naming one ticket queue it once."""
    first = store.accept_notification("hubspot", [("e1", ["1", "2"]), ("e2", ["2"])], NOW, KEEP)
    again = store.accept_notification("hubspot", [("e1", ["1", "2"])], NOW, KEEP)
    other_source = store.accept_notification("zendesk", [("e1", ["1"])], NOW, KEEP)
    assert (first, again, other_source) == ((2, 2), (0, 0), (1, 1))
    claim = store.claim_notified("hubspot", NOW, 10, LEASE)
    assert sorted(claim.ticket_ids) == ["1", "2"]


def test_event_ids_expire_after_keep(store: Store) -> None:
    """An id is remembered for `keep`: at exactly `keep` it is still known, after it is not."""
    store.accept_notification("hubspot", [("e1", ["1"])], NOW, KEEP)
    at_edge = store.accept_notification("hubspot", [("e1", ["1"])], NOW + KEEP, KEEP)
    after = store.accept_notification("hubspot", [("e1", ["1"])],
                                      NOW + KEEP + timedelta(seconds=1), KEEP)
    assert (at_edge[0], after[0]) == (0, 1)


def test_claims_are_exclusive_until_the_lease_ends(store: Store) -> None:
    """A second claimer gets nothing while the lease lives, everything once it has passed;
    settling deletes the claimed rows."""
    store.queue_notified("zendesk", ["7", "8"], NOW)
    held = store.claim_notified("zendesk", NOW, 10, LEASE)
    during = store.claim_notified("zendesk", NOW + LEASE - timedelta(seconds=1), 10, LEASE)
    after = store.claim_notified("zendesk", NOW + LEASE, 10, LEASE)
    assert (sorted(held.ticket_ids), during.ticket_ids, sorted(after.ticket_ids)) == (
        ["7", "8"], [], ["7", "8"])
    assert store.settle_notified(after.token) == 2
    assert store.notified_due("zendesk", NOW + timedelta(days=1)) == 0


def test_failed_reads_back_off_then_die_visibly(store: Store) -> None:
    """Each failure doubles the wait (not claimable a second before it ends, claimable at
    it); after MAX_ATTEMPTS the row is dead, kept, and counted by status."""
    store.queue_notified("hubspot", ["5"], NOW)
    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claim = store.claim_notified("hubspot", now, 10, LEASE)
        assert claim.ticket_ids == ["5"], attempt
        store.retry_notified(claim.token, now, "TransientError")
        wait = BACKOFF * 2 ** (attempt - 1)
        if attempt < MAX_ATTEMPTS:
            early = store.claim_notified("hubspot", now + wait - timedelta(seconds=1), 10,
                                         LEASE)
            assert early.ticket_ids == []
            now += min(wait, timedelta(hours=1))
    assert store.claim_notified("hubspot", now + timedelta(days=1), 10, LEASE).ticket_ids == []
    assert store.counts().get("notified.dead") == 1


def test_status_counts_notices_held_under_a_live_lease(store: Store) -> None:
    """`notified.held`: a claimed notice (an intake running, or one killed between claim and
    queueing: the crash window) counts while its lease lives, a second before its end too,
    and no longer at its end, when any intake may claim it again; none: no line at all."""
    store.queue_notified("hubspot", ["1", "2"], NOW)
    assert "notified.held" not in store.counts(NOW)
    store.claim_notified("hubspot", NOW, 1, LEASE)
    counts = store.counts(NOW + LEASE - timedelta(seconds=1))
    assert (counts.get("notified.held"), counts.get("notified.pending")) == (1, 2)
    assert "notified.held" not in store.counts(NOW + LEASE)
