"""The outbox: idempotent inserts, claims and leases, the send gate, stale-lease recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from closedloop.daemon.store import (
    CONNECTION_LOST,
    INTERRUPTED,
    OUTCOME_UNKNOWN,
    NewSend,
    Store,
    UnknownSend,
)

MakeSend = Callable[..., NewSend]
LEASE = timedelta(minutes=5)


def test_same_idem_key_twice_gives_one_row(store: Store, make_send: MakeSend) -> None:
    """Re-offering a key (a re-polled ticket, a restart mid-page) inserts nothing the 2nd time."""
    first = store.add_sends([make_send("a"), make_send("b")])
    second = store.add_sends([make_send("b", program="other"), make_send("c")])
    assert (first, second) == (2, 1)
    assert {"a", "b", "c"} == store.existing_idem_keys(["a", "b", "c", "zz"])
    assert store.counts()["sends.pending"] == 3


def test_duplicate_keys_within_one_batch_insert_once(store: Store, make_send: MakeSend) -> None:
    """Two events for the same key in one batch make one row."""
    assert store.add_sends([make_send("a"), make_send("a")]) == 1


def test_new_send_fields_round_trip(store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Every NewSend field lands in its column and comes back as aware UTC."""
    closed = t0 - timedelta(hours=1)
    store.add_sends([make_send("a", first_name="Ana", language="pt-BR", owner_id="o1",
                               team_id="tm", pipeline="p0", subject="Refund", closed_at=closed)])
    [send] = store.claim_due_sends(t0, 10, LEASE)
    actual = store.get_send(send.id)
    assert actual is not None
    assert ("a", "Ana", "pt-BR", "o1", "tm", "p0", "Refund", closed, 0) == (
        actual.idem_key, actual.first_name, actual.language, actual.owner_id, actual.team_id,
        actual.pipeline, actual.subject, actual.closed_at, actual.attempts,
    )
    assert timedelta(0) == actual.due_at.utcoffset()


def test_segments_round_trip_on_both_insert_paths(store: Store, make_send: MakeSend,
                                                  t0: datetime) -> None:
    """Custom segment values captured at queue time come back as they went in; a send without
    any stays NULL (not a JSON null), on SQLite's insert and PostgreSQL's recordset insert."""
    store.add_sends([make_send("a", segments={"store": "Oslo Sentrum", "region": "nord"}),
                     make_send("b")])
    got = {s.idem_key: s.segments for s in store.claim_due_sends(t0, 10, LEASE)}
    assert got == {"a": {"store": "Oslo Sentrum", "region": "nord"}, "b": None}


def test_a_reminder_carries_its_surveys_segments(store: Store, make_send: MakeSend,
                                                t0: datetime) -> None:
    """Reminders are copies of their survey: the segments captured at queue time too."""
    store.add_sends([make_send("a", segments={"store": "oslo"})])
    [survey] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(survey.id, t0)
    store.mark_sent(survey.id, t0, "<a@x>", reminders=[timedelta(days=2)])
    [reminder] = store.claim_due_sends(t0 + timedelta(days=2), 1, LEASE)
    assert (reminder.kind, reminder.segments) == ("reminder", {"store": "oslo"})


def test_sends_can_be_added_already_skipped(store: Store, make_send: MakeSend) -> None:
    """Rules may record a decision not to send (kept visible), counted by reason."""
    store.add_sends([make_send("a", status="skipped", skip_reason="cooldown")])
    counts = store.counts()
    assert (counts["sends.skipped"], counts["skipped.cooldown"],
                         counts["sends.pending"]) == (1, 1, 0)


def test_ten_thousand_sends_insert_in_a_few_statements(store: Store,
                                                        make_send: MakeSend) -> None:
    """A big first poll (10,000 tickets) is a bulk statement batch, not 10,000 round trips
    (the time it takes is the benchmark's business)."""
    from sqlalchemy import event

    sends = [make_send(f"k{i}") for i in range(10_000)]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        inserted = store.add_sends(sends)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert inserted == 10_000
    assert 0 < sum(1 for s in statements if "INSERT" in s.upper()) <= 25
    assert store.add_sends(sends) == 0


def test_concurrent_inserts_of_the_same_keys_make_one_row_each(
    store: Store, replica: Store, make_send: MakeSend
) -> None:
    """Two replicas inserting the same 300 keys at once end with 300 rows, no error."""
    sends = [make_send(f"k{i}") for i in range(300)]
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def insert(name: str, target: Store) -> None:
        barrier.wait()
        results[name] = target.add_sends(sends)

    threads = [threading.Thread(target=insert, args=(n, s))
               for n, s in (("a", store), ("b", replica))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["a"] + results["b"] == 300
    assert store.counts()["sends.pending"] == 300


def test_claim_takes_due_pending_oldest_first(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Only due rows are claimed, oldest due_at first, up to the limit, with the lease set."""
    store.add_sends([
        make_send("late", due_at=t0 - timedelta(minutes=1)),
        make_send("early", due_at=t0 - timedelta(hours=1)),
        make_send("future", due_at=t0 + timedelta(seconds=1)),
        make_send("mid", due_at=t0 - timedelta(minutes=30)),
    ])
    claimed = store.claim_due_sends(t0, 2, LEASE)
    assert [("early", "claimed", t0 + LEASE), ("mid", "claimed", t0 + LEASE)] == [
        (s.idem_key, s.status, s.claimed_until) for s in claimed
    ]
    assert [s.idem_key for s in store.claim_due_sends(t0, 10, LEASE)] == ["late"]
    assert store.claim_due_sends(t0, 10, LEASE) == []


def test_concurrent_claimers_never_share_a_row(
    store: Store, replica: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Two replicas claiming in a loop get disjoint sets that together cover every row."""
    store.add_sends([make_send(f"k{i}") for i in range(200)])
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def claim(name: str, target: Store) -> None:
        barrier.wait()
        while batch := target.claim_due_sends(t0, 7, LEASE):
            claimed[name].extend(s.id for s in batch)

    threads = [threading.Thread(target=claim, args=(n, s))
               for n, s in (("a", store), ("b", replica))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = claimed["a"] + claimed["b"]
    assert len(every) == len(set(every))
    assert len(every) == 200


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_claim_skips_rows_locked_by_another_replica(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """PostgreSQL: rows another transaction holds are skipped at once, not waited for.

    (SQLite has no row locks; there BEGIN IMMEDIATE serializes claimers, tested above.)
    """
    store.add_sends([make_send(f"k{i}") for i in range(4)])
    with store.engine.connect() as other:
        other.execute(text("SET lock_timeout = '2s'"))
        locked = other.execute(
            text("SELECT id FROM sends ORDER BY id LIMIT 2 FOR UPDATE")
        ).scalars().all()
        started = time.perf_counter()
        claimed = store.claim_due_sends(t0, 10, LEASE)
        elapsed = time.perf_counter() - started
        other.rollback()
    assert [s.idem_key for s in claimed] == ["k2", "k3"]
    assert locked == [1, 2]
    assert elapsed < 1.0


def test_begin_sending_is_a_single_gate(
    store: Store, replica: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Only the first begin_sending on a claimed row wins; it counts the attempt."""
    store.add_sends([make_send("a")])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    now = t0 + timedelta(seconds=5)
    assert (store.begin_sending(send.id, now), replica.begin_sending(send.id, now)) == (True, False)
    actual = store.get_send(send.id)
    assert actual is not None
    assert (actual.status, actual.attempts) == ("sending", 1)


def test_begin_sending_refuses_unclaimed_or_expired(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A pending row, or a claim whose lease ran out, cannot go to the mail server."""
    store.add_sends([make_send("pending", due_at=t0 + timedelta(days=1)), make_send("claimed")])
    [claimed] = store.claim_due_sends(t0, 1, LEASE)
    pending_id = claimed.id + 1
    assert (
        store.begin_sending(pending_id, t0),
        store.begin_sending(claimed.id, t0 + LEASE),
    ) == (False, False)


def test_release_stale_resends_what_never_reached_the_end_of_data(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Expired claims and 'sending' rows (the final dot never left) go back to pending; a row
    awaiting the relay's reply becomes outcome_unknown (interrupted_during_send), never resent.

    Keys sort in claim order: ties on due time are claimed in key order."""
    store.add_sends([make_send("claimed"), make_send("sending"), make_send("sent-awaiting"),
                     make_send("unclaimed")])
    claimed, sending, awaiting = store.claim_due_sends(t0, 3, LEASE)
    assert store.begin_sending(sending.id, t0)
    assert store.begin_sending(awaiting.id, t0)
    assert store.end_of_data(awaiting.id, 1, t0)
    later = t0 + LEASE
    [fresh] = store.claim_due_sends(later - timedelta(seconds=1), 1, LEASE)
    assert store.release_stale(later) == {"released": 1, "resent": 1, "interrupted": 1}
    states = {s.idem_key: (s.status, s.skip_reason, s.claimed_until)
              for s in map(store.get_send, (claimed.id, sending.id, awaiting.id, fresh.id))
              if s}
    assert {
        "claimed": ("pending", None, None),
        "sending": ("pending", None, None),
        "sent-awaiting": (OUTCOME_UNKNOWN, INTERRUPTED, None),
        "unclaimed": ("claimed", None, later - timedelta(seconds=1) + LEASE),
    } == states
    assert [s.idem_key for s in store.claim_due_sends(later, 10, LEASE)] == [
        "claimed", "sending"]
    assert store.release_stale(later) == {"released": 0, "resent": 0, "interrupted": 0}


def test_end_of_data_is_refused_to_a_sender_that_lost_its_row(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A stalled dispatcher whose 'sending' row was sent back to pending (and begun again by
    another) may not send the final dot: end_of_data answers False to the old attempt only."""
    store.add_sends([make_send("a")])
    [row] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(row.id, t0)  # attempt 1 stalls past its lease
    store.release_stale(t0 + LEASE)
    [again] = store.claim_due_sends(t0 + LEASE, 1, LEASE)
    assert store.begin_sending(again.id, t0 + LEASE)  # attempt 2
    assert (store.end_of_data(row.id, 1, t0 + LEASE), store.end_of_data(row.id, 2, t0 + LEASE)
            ) == (False, True)


def test_outcome_unknown_counts_as_sent_without_reminder_or_writeback(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A survey whose relay reply never came moves the ledger (cooldowns hold) at the time the
    message was handed over, queues no reminder and no 'sent' write-back, is counted apart,
    and nothing (a retry, a skip) can move it back to pending."""
    store.add_sends([make_send("a", email="ana@example.com")])
    [row] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(row.id, t0)
    assert store.end_of_data(row.id, 1, t0)
    store.mark_outcome_unknown(row.id, CONNECTION_LOST, t0 + timedelta(seconds=30))
    store.mark_send_failed(row.id, "too late", t0)
    store.mark_skipped(row.id, "too late")
    after = store.get_send(row.id)
    assert after is not None
    assert (after.status, after.skip_reason, after.sent_at) == (
        OUTCOME_UNKNOWN, CONNECTION_LOST, t0)
    book = store.person_book(["ana@example.com"])
    assert (book.last_sent("ana@example.com", "support-csat"),
            book.last_sent("ana@example.com", "*")) == (t0, t0)
    assert [s.status for s in book.siblings("ana@example.com", "support-csat", "other")] == [
        "sent"]
    counts = store.counts()
    assert (counts["sends.outcome_unknown"], counts[f"outcome_unknown.{CONNECTION_LOST}"],
            counts["sends.sent"], counts["sends.pending"], counts.get("writebacks.pending", 0)
            ) == (1, 1, 0, 0, 0)
    assert store.due_sends_until(t0 + timedelta(days=60)) == []  # no reminder queued


def test_mark_sent_enqueues_the_sent_writeback_once(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Sent rows record time and Message-ID and queue one 'sent' write-back, even if repeated."""
    store.add_sends([make_send("a", program="nps-q4", survey_type="nps", contact_id="42")])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(send.id, t0)
    sent_at = t0 + timedelta(seconds=2)
    store.mark_sent(send.id, sent_at, "<m1@example.com>")
    store.mark_sent(send.id, sent_at + timedelta(seconds=9), "<m2@example.com>")
    actual = store.get_send(send.id)
    assert actual is not None
    assert ("sent", sent_at, "<m1@example.com>", None) == (
        actual.status, actual.sent_at, actual.message_id, actual.claimed_until)
    [writeback] = store.pending_writebacks("hubspot", sent_at, 10)
    assert ("42", send.id, "sent", {"survey_type": "nps", "program": "nps-q4",
                                   "sent_at": "2026-11-20T09:00:02+00:00"}) == (
        writeback.contact_id, writeback.send_id, writeback.kind, writeback.data)


def test_mark_sent_after_stale_sweep_still_records_the_mail(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """If a slow SMTP call outlived the lease, the mail did leave: 'sent' wins over the sweep."""
    store.add_sends([make_send("a")])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(send.id, t0)
    store.release_stale(t0 + LEASE)
    store.mark_sent(send.id, t0 + LEASE, "<m@x>")
    actual = store.get_send(send.id)
    assert actual is not None
    assert (actual.status, actual.skip_reason) == ("sent", None)


def test_mark_send_failed_retries_or_gives_up(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """With retry_at the row is due again then; without, it is failed for good."""
    store.add_sends([make_send("retry"), make_send("terminal")])
    retry, fatal = store.claim_due_sends(t0, 2, LEASE)
    retry_at = t0 + timedelta(minutes=10)
    store.mark_send_failed(retry.id, "connection refused", retry_at)
    store.mark_send_failed(fatal.id, "550 no such user", None)
    assert store.claim_due_sends(retry_at - timedelta(seconds=1), 10, LEASE) == []
    [again] = store.claim_due_sends(retry_at, 10, LEASE)
    gone = store.get_send(fatal.id)
    assert gone is not None
    assert (again.idem_key, again.last_error) == ("retry", "connection refused")
    assert (gone.status, gone.last_error) == ("failed", "550 no such user")


def test_mark_skipped_keeps_the_reason(store: Store, make_send: MakeSend, t0: datetime) -> None:
    """A skipped send keeps its reason, is never claimed again, and is counted per reason."""
    store.add_sends([make_send("a")])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    store.mark_skipped(send.id, "suppressed")
    assert store.claim_due_sends(t0 + timedelta(days=1), 10, LEASE) == []
    counts = store.counts()
    assert (counts["sends.skipped"], counts["skipped.suppressed"]) == (1, 1)


def test_marking_an_unknown_send_raises(store: Store) -> None:
    """Marks on an id that does not exist are bugs worth seeing, not silent no-ops."""
    with pytest.raises(UnknownSend):
        store.mark_skipped(999, "no_email")


def test_cursor_is_upserted_per_source_and_name(store: Store, t0: datetime) -> None:
    """set_cursor overwrites; cursors are keyed by (source, name); unknown ones are None."""
    store.set_cursor("hubspot", "tickets", "100", t0)
    store.set_cursor("hubspot", "tickets", "200", t0 + timedelta(minutes=1))
    store.set_cursor("zendesk", "tickets", "abc", t0)
    assert (
        store.get_cursor("hubspot", "tickets"),
        store.get_cursor("zendesk", "tickets"),
        store.get_cursor("hubspot", "lists"),
    ) == ("200", "abc", None)


def test_suppression_is_normalized_and_can_expire(store: Store, t0: datetime) -> None:
    """Addresses match whatever their case and spaces; a dated suppression lapses at `until`."""
    store.suppress("  Ana@Example.COM ", "unsubscribed", t0)
    store.suppress("bob@example.com", "soft_bounce", t0, until=t0 + timedelta(days=1))
    assert (
        store.is_suppressed("ana@example.com", t0 + timedelta(days=999)),
        store.is_suppressed(" BOB@example.com", t0),
        store.is_suppressed("bob@example.com", t0 + timedelta(days=1)),
        store.is_suppressed("carol@example.com", t0),
    ) == (True, True, False, False)


def test_suppression_is_never_shortened(store: Store, t0: datetime) -> None:
    """A later dated suppression does not lift a permanent one (a bounce after unsubscribe)."""
    store.suppress("ana@example.com", "unsubscribed", t0)
    store.suppress("ANA@example.com", "soft_bounce", t0, until=t0 + timedelta(hours=1))
    assert store.is_suppressed("ana@example.com", t0 + timedelta(days=30))


def test_a_permanent_suppression_keeps_its_first_reason(store: Store, t0: datetime) -> None:
    """An unsubscribed address that later hard-bounces is still counted as unsubscribed."""
    from sqlalchemy import text

    store.suppress("ana@example.com", "unsubscribed", t0)
    store.suppress("ana@example.com", "hard_bounce", t0 + timedelta(days=1))
    store.suppress("bob@example.com", "snoozed", t0, until=t0 + timedelta(days=10))
    store.suppress("bob@example.com", "hard_bounce", t0 + timedelta(days=1))
    with store.engine.connect() as conn:
        reasons = dict(conn.execute(text("SELECT email, reason FROM suppressions")).all())
    assert reasons == {"ana@example.com": "unsubscribed", "bob@example.com": "hard_bounce"}
    assert store.is_suppressed("bob@example.com", t0 + timedelta(days=400))


def test_renewed_claims_outlive_their_first_lease(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A dispatcher still working renews what it holds; a dead one's rows come back (its
    'sending' row too: the end of data never left it)."""
    store.add_sends([make_send("held"), make_send("sent-already"), make_send("stale")])
    held, begun = store.claim_due_sends(t0, 2, LEASE)
    assert store.begin_sending(begun.id, t0)
    assert store.renew_claims([held.id, begun.id], t0 + 2 * LEASE) == 1  # 'sending' untouched
    [dead] = store.claim_due_sends(t0, 1, LEASE)
    assert store.release_stale(t0 + LEASE) == {"released": 1, "resent": 1, "interrupted": 0}
    after = {s.idem_key: s.status for s in map(store.get_send, (held.id, begun.id, dead.id))
             if s}
    assert after == {"held": "claimed", "sent-already": "pending", "stale": "pending"}
    assert store.begin_sending(held.id, t0 + LEASE + timedelta(seconds=1))
