"""The relay's 250s recorded a group at a time (store/settle.py), SQLite and PostgreSQL.

Pinned: what a group records, row for row (events, write-backs, reminders, the ledger's
"*" row of a person twice in one group at the later time, which PostgreSQL takes in one
statement); a repeated mark and an unknown id are passed over while the group's other marks
commit; begin_sending carries the marks whatever its gate answers; a mail whose person was
forgotten on its way gets no event, write-back, reminder or ledger row; end_of_data keeps the
Message-ID (a bounce names the mail before its 250 is recorded); a renewal keeps the rows
whose 250 waits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from closedloop.daemon.store import NewSend, SentMark, Store, UnknownSend

MakeSend = Callable[..., NewSend]

LEASE = timedelta(minutes=5)
REMIND = (timedelta(days=3),)


def _in_flight(store: Store, make_send: MakeSend, t0: datetime, *keys: str,
               **fields: Any) -> list[int]:
    """Sends claimed, begun and handed over (awaiting the relay's answer)."""
    store.add_sends([make_send(key, **fields) for key in keys])
    rows = store.claim_due_sends(t0, len(keys), LEASE)
    for row in rows:
        assert store.begin_sending(row.id, t0)
        assert store.end_of_data(row.id, 1, t0)
    return [row.id for row in rows]


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the marks touch, in id order (timestamps as the database returns them)."""
    tables = {"sends": "id", "events": "id", "writebacks": "id", "ledger": "email_norm, program"}
    with store.engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(
            text(f"SELECT * FROM {name} ORDER BY {order}"))]
            for name, order in tables.items()}


def _queue_mixed(store: Store, make_send: MakeSend, t0: datetime) -> list[SentMark]:
    """A person's two programs, a second person, and a reminder already due."""
    ids = _in_flight(store, make_send, t0, "a1", email="ann@example.com")
    ids += _in_flight(store, make_send, t0, "a2", email="ann@example.com", program="nps",
                      survey_type="nps")
    ids += _in_flight(store, make_send, t0, "b1", email="bob@example.com")
    return [SentMark(ids[0], t0, "<a1@x>", REMIND), SentMark(ids[1], t0 + timedelta(seconds=1),
             "<a2@x>", REMIND), SentMark(ids[2], t0 + timedelta(seconds=2), "<b1@x>", ())]


def test_a_group_records_each_mails_event_writeback_ledger_and_reminders(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """What the one-mail mark_sent recorded, pinned row for row for a group of three: a
    survey.sent event each, a 'sent' write-back each, the ledger rows of each program and
    "*" (ann's "*" at her later survey), a reminder per survey that has one."""
    first, second, third = (m.send_id for m in _queue_mixed(store, make_send, t0))
    assert store.mark_sent_many(_marks_for(first, second, third, t0)) == 3
    with store.engine.connect() as conn:
        events = conn.execute(text(
            "SELECT kind, send_id, program, email_norm FROM events ORDER BY id")).all()
        writebacks = conn.execute(text(
            "SELECT contact_id, send_id, kind FROM writebacks ORDER BY id")).all()
        reminders = conn.execute(text(
            "SELECT idem_key, parent_id, status FROM sends WHERE kind = 'reminder' ORDER BY id"
        )).all()
    assert [tuple(e) for e in events] == [
        ("survey.sent", first, "support-csat", "ann@example.com"),
        ("survey.sent", second, "nps", "ann@example.com"),
        ("survey.sent", third, "support-csat", "bob@example.com")]
    assert [tuple(w) for w in writebacks] == [
        ("c-a1", first, "sent"), ("c-a2", second, "sent"), ("c-b1", third, "sent")]
    assert [tuple(r) for r in reminders] == [
        ("a1:reminder:1", first, "pending"), ("a2:reminder:1", second, "pending")]
    [wb] = [w for w in store.pending_writebacks("hubspot", t0, 10) if w.send_id == second]
    assert wb.data == {"survey_type": "nps", "program": "nps",
                       "sent_at": (t0 + timedelta(seconds=1)).isoformat()}
    book = store.person_book(["ann@example.com", "bob@example.com"])
    assert [book.last_sent(p, q) for p, q in (
        ("ann@example.com", "*"), ("ann@example.com", "nps"),
        ("ann@example.com", "support-csat"), ("bob@example.com", "*"))] == [
        t0 + timedelta(seconds=1), t0 + timedelta(seconds=1), t0, t0 + timedelta(seconds=2)]
    sent = [store.get_send(i) for i in (first, second, third)]
    assert [(s.status, s.message_id) for s in sent if s is not None] == [
        ("sent", "<a1@x>"), ("sent", "<a2@x>"), ("sent", "<b1@x>")]


def _marks_for(first: int, second: int, third: int, t0: datetime) -> list[SentMark]:
    return [SentMark(third, t0 + timedelta(seconds=2), "<b1@x>", ()),  # out of order
            SentMark(first, t0, "<a1@x>", REMIND),
            SentMark(second, t0 + timedelta(seconds=1), "<a2@x>", REMIND)]


def test_a_group_passes_over_a_repeated_mark_and_an_unknown_id(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """The known marks commit; a lone mark_sent of an unknown id is still UnknownSend."""
    first, second = _in_flight(store, make_send, t0, "a", "b")
    store.mark_sent(first, t0, "<first@x>")
    assert store.mark_sent_many([SentMark(first, t0, "<again@x>"), SentMark(999, t0, "<no@x>"),
                                 SentMark(second, t0, "<second@x>")]) == 1
    assert [(s.status, s.message_id) for s in map(store.get_send, (first, second)) if s] == [
        ("sent", "<first@x>"), ("sent", "<second@x>")]
    with store.engine.connect() as conn:
        events = conn.execute(text("SELECT send_id FROM events ORDER BY id")).scalars().all()
    assert events == [first, second]  # one survey.sent each, none for the repeat
    with pytest.raises(UnknownSend):
        store.mark_sent(999, t0, "<no@x>")


def test_begin_sending_carries_the_marks_whatever_its_gate_answers(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Lost gate (the row is not claimed): False, and the carried mark is recorded anyway."""
    [handed] = _in_flight(store, make_send, t0, "a")
    store.add_sends([make_send("b")])
    unclaimed = store.due_sends_until(t0)[0].id
    assert store.begin_sending(unclaimed, t0, settle=[SentMark(handed, t0, "<a@x>")]) is False
    after = store.get_send(handed)
    assert after is not None
    assert after.status == "sent"


def test_a_mail_whose_person_was_forgotten_on_its_way_gets_no_sent_writeback(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """`forget` scrubs a row in flight; its 250 then records the send but adds nothing about
    them after the erasure: no event (webhooks), no 'sent' write-back (only 'forget' rows
    remain), no reminder, no ledger row."""
    [gone] = _in_flight(store, make_send, t0, "a", email="ann@example.com")
    [kept] = _in_flight(store, make_send, t0, "b", email="bob@example.com")
    store.forget("ann@example.com", t0)
    assert store.mark_sent_many([SentMark(gone, t0, "<a@x>", REMIND),
                                 SentMark(kept, t0, "<b@x>", REMIND)]) == 2
    kinds = sorted((w.contact_id, w.kind) for w in store.pending_writebacks("hubspot", t0, 10))
    assert kinds == [("c-a", "forget"), ("c-b", "sent")]
    with store.engine.connect() as conn:
        reminders = conn.execute(text(
            "SELECT parent_id FROM sends WHERE kind = 'reminder'")).scalars().all()
        ledger = conn.execute(text("SELECT DISTINCT email_norm FROM ledger")).scalars().all()
        events = conn.execute(text("SELECT send_id FROM events")).scalars().all()
    assert (reminders, ledger, events) == ([kept], ["bob@example.com"], [kept])
    after = store.get_send(gone)
    assert after is not None
    assert after.status == "sent"  # the mail did leave


def test_end_of_data_keeps_the_message_id_and_a_refusal_clears_it(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """The bounce job matches a report to the Message-ID the row holds: it is there from the
    end of data on, before the relay's 250 is recorded; a refused mail forgets it."""
    store.add_sends([make_send("a"), make_send("b")])
    rows = store.claim_due_sends(t0, 2, LEASE)
    for row in rows:
        assert store.begin_sending(row.id, t0)
        assert store.end_of_data(row.id, 1, t0, f"<cl.{row.id}.x@acme.example>")
    waiting, refused = (store.get_send(r.id) for r in rows)
    assert waiting is not None
    assert (waiting.status, waiting.message_id) == ("awaiting_reply", "<cl.1.x@acme.example>")
    store.mark_send_failed(rows[1].id, "451 try later", t0 + timedelta(minutes=5))
    refused = store.get_send(rows[1].id)
    assert refused is not None
    assert (refused.status, refused.message_id) == ("pending", None)


def test_a_renewal_keeps_the_rows_whose_250_waits_and_no_settled_row(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """claimed and awaiting_reply rows get the new lease; a sent row is not touched."""
    handed, recorded = _in_flight(store, make_send, t0, "a", "b")
    store.mark_sent(recorded, t0, "<b@x>")
    store.add_sends([make_send("c")])
    [claimed] = store.claim_due_sends(t0, 1, LEASE)
    later = t0 + timedelta(minutes=9)
    assert store.renew_claims([handed, recorded, claimed.id], later) == 2
    leases = [s.claimed_until for s in map(store.get_send, (handed, claimed.id, recorded)) if s]
    assert leases == [later, later, None]
