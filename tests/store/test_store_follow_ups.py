"""The follow-up queue on SQLite and PostgreSQL: one row per answer, leased claims, settles
that never lose a newer answer, backoff and visible refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from closedloop.daemon.store import NewSend, Store

MakeSend = Callable[..., NewSend]
LEASE = timedelta(minutes=5)


def _answered(store: Store, make_send: MakeSend, t0: datetime, key: str = "a",
              score: int = 1) -> int:
    store.add_sends([make_send(key)])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(send.id, t0)
    store.mark_sent(send.id, t0, f"<{key}@x>")
    store.record_response(send.id, score, "unsatisfied", t0 + timedelta(minutes=1))
    return send.id


def test_each_answer_change_keeps_one_row_and_bumps_its_version(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Score, re-score and comment: one follow-up row, version 3, pending."""
    send_id = _answered(store, make_send, t0)
    store.record_response(send_id, 2, "unsatisfied", t0 + timedelta(minutes=2))
    store.record_comment(send_id, "slow", t0 + timedelta(minutes=3))
    [row] = store.follow_up_rows()
    assert (send_id, 3, 0, "pending") == (row["send_id"], row["version"],
                                          row["written_version"], row["status"])


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A second claimer gets nothing while the lease runs (one second before its end) and
    gets the row once it has run out (at its end)."""
    _answered(store, make_send, t0)
    now = t0 + timedelta(minutes=2)
    first = store.claim_follow_ups("hubspot", now, 10, LEASE)
    assert len(first.rows) == 1
    assert first.rows[0].external_id == "cl-followup-1"
    assert (first.rows[0].score, first.rows[0].category) == (1, "unsatisfied")
    assert store.claim_follow_ups("hubspot", now + LEASE - timedelta(seconds=1), 10,
                                        LEASE).rows == []
    again = store.claim_follow_ups("hubspot", now + LEASE, 10, LEASE)
    assert [first.rows[0].id] == [r.id for r in again.rows]
    assert not store.settle_follow_up(first.token, first.rows[0].id, 1, "done", now,
                                      crm_id="t1")  # the first claimer lost it


def test_settle_records_the_crm_id_and_a_newer_answer_stays_pending(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Done for version 1 while version 2 arrived: crm id kept, row still pending, so the
    next claim updates the task rather than creating one."""
    send_id = _answered(store, make_send, t0)
    now = t0 + timedelta(minutes=2)
    claim = store.claim_follow_ups("hubspot", now, 10, LEASE)
    store.record_response(send_id, 0, "unsatisfied", now)
    assert store.settle_follow_up(claim.token, claim.rows[0].id, 1, "done", now, crm_id="t1")
    [row] = store.follow_up_rows()
    assert (row["status"], row["crm_id"], row["written_version"],
                                       row["version"]) == ("pending", "t1", 1, 2)
    [next_row] = store.claim_follow_ups("hubspot", now, 10, LEASE).rows
    assert (next_row.crm_id, next_row.score) == ("t1", 0)


def test_retry_later_waits_and_counts_attempts(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A deferred row is not due a second before its retry time, and is at it."""
    _answered(store, make_send, t0)
    now = t0 + timedelta(minutes=2)
    claim = store.claim_follow_ups("hubspot", now, 10, LEASE)
    later = now + timedelta(minutes=2)
    assert store.retry_follow_up_later(claim.token, claim.rows[0].id, "TransientError", later)
    assert store.claim_follow_ups("hubspot", later - timedelta(seconds=1), 10,
                                        LEASE).rows == []
    [row] = store.claim_follow_ups("hubspot", later, 10, LEASE).rows
    assert row.attempts == 1


def test_refused_rows_are_counted_for_status(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A refusal is kept with its reason and shows as follow_ups.rejected."""
    _answered(store, make_send, t0)
    now = t0 + timedelta(minutes=2)
    claim = store.claim_follow_ups("hubspot", now, 10, LEASE)
    store.settle_follow_up(claim.token, claim.rows[0].id, 1, "rejected", now,
                           error="owner gone")
    assert store.counts()["follow_ups.rejected"] == 1
    assert store.follow_up_rows()[0]["last_error"] == "owner gone"
    assert store.claim_follow_ups("hubspot", now + LEASE, 10, LEASE).rows == []


def test_other_sources_rows_are_not_claimed(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A claim for zendesk leaves hubspot's rows alone."""
    _answered(store, make_send, t0)
    assert store.claim_follow_ups("zendesk", t0 + timedelta(minutes=2), 10, LEASE).rows == []
