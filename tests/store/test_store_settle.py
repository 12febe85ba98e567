"""The relay's 250s recorded a group at a time (store/settle.py), SQLite and PostgreSQL.

Pinned: a group records exactly what one mark at a time records (every table, row for row);
a repeated mark and an unknown id are passed over while the group's other marks commit;
the ledger's "*" row of a person twice in one group ends at the later time (and PostgreSQL
takes the group at all); begin_sending carries the marks whatever its gate answers; a mail
whose person was forgotten on its way gets no 'sent' write-back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
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


def test_a_group_records_what_one_mark_at_a_time_records(
        tmp_path: Path, make_send: MakeSend, t0: datetime) -> None:
    """Same sends, events, write-backs, reminders and ledger rows, ids included."""
    dumps = []
    for name, grouped in (("one.db", False), ("group.db", True)):
        store = Store(f"sqlite:///{tmp_path / name}")
        store.migrate()
        marks = _queue_mixed(store, make_send, t0)
        if grouped:
            assert store.mark_sent_many(marks) == 3
        else:
            for mark in marks:
                store.mark_sent(mark.send_id, mark.now, mark.message_id, mark.reminders)
        dumps.append(_dump(store))
        store.dispose()
    one, group = dumps
    assert (len(one["sends"]), len(one["events"]), len(one["writebacks"]),
            len(one["ledger"])) == (5, 3, 3, 5)  # 2 reminders; ann: 2 programs + "*", bob: 1 + "*"
    assert group == one


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


def test_one_persons_two_surveys_in_a_group_leave_the_later_time(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """The "*" row (the global cooldown) gets the later of the two; each program its own."""
    marks = _queue_mixed(store, make_send, t0)
    store.mark_sent_many(marks)
    book = store.person_book(["ann@example.com"])
    assert [book.last_sent("ann@example.com", p) for p in ("*", "nps", "support-csat")] == [
        t0 + timedelta(seconds=1), t0 + timedelta(seconds=1), t0]


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
    """`forget` scrubs a row in flight; its 250 then records the send but queues nothing
    that would write about them to the CRM after the erasure (only 'forget' rows remain)."""
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
    assert (reminders, ledger) == ([kept], ["bob@example.com"])
