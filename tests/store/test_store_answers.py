"""Responses and write-backs: upserted answers, atomic enqueueing, retry and rejection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from closedloop.daemon.store import NewSend, NoResponseYet, Store, UnknownSend

MakeSend = Callable[..., NewSend]
LEASE = timedelta(minutes=5)


def _sent(store: Store, make_send: MakeSend, t0: datetime, key: str = "a", **kw: object) -> int:
    """Add one send and take it through to 'sent' at t0; returns its id."""
    store.add_sends([make_send(key, **kw)])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(send.id, t0)
    store.mark_sent(send.id, t0, f"<{key}@x>")
    return send.id


def _done_sent_writebacks(store: Store, t0: datetime) -> None:
    store.mark_writebacks_done(
        [w.id for w in store.pending_writebacks("hubspot", t0, 100) if w.kind == "sent"], t0)


def test_second_click_updates_the_same_response(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A later click changes score, category and updated_at; answered_at stays the first."""
    send_id = _sent(store, make_send, t0)
    first = store.record_response(send_id, 2, "unsatisfied", t0 + timedelta(minutes=1))
    second = store.record_response(send_id, 5, "satisfied", t0 + timedelta(minutes=2))
    assert first.id == second.id
    assert (5, "satisfied", t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)) == (
        second.score, second.category, second.answered_at, second.updated_at)
    assert second == store.get_response(send_id)
    assert store.counts()["responses"] == 1


def test_response_enqueues_answer_writeback(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Each recorded click queues an 'answer' write-back with the full current answer (and
    the survey's language, which the comment themes read it in)."""
    send_id = _sent(store, make_send, t0, contact_id="c9", program="csat-eu", language="fr")
    _done_sent_writebacks(store, t0)
    answered = t0 + timedelta(minutes=1)
    store.record_response(send_id, 4, "satisfied", answered)
    [writeback] = store.pending_writebacks("hubspot", answered, 10)
    assert ("c9", send_id, "answer", 0) == (
        writeback.contact_id, writeback.send_id, writeback.kind, writeback.attempts)
    assert writeback.data == {
        "survey_type": "csat", "program": "csat-eu", "score": 4, "comment": None,
        "category": "satisfied", "answered_at": "2026-11-20T09:01:00+00:00",
        "updated_at": "2026-11-20T09:01:00+00:00", "sent_at": "2026-11-20T09:00:00+00:00",
        "language": "fr",
    }


def test_response_and_writeback_commit_together(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """If queueing the write-back fails, the response is not stored either (one transaction)."""
    send_id = _sent(store, make_send, t0)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE writebacks RENAME TO writebacks_away"))
    try:
        with pytest.raises(DBAPIError):
            store.record_response(send_id, 4, "satisfied", t0)
    finally:
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE writebacks_away RENAME TO writebacks"))
    assert store.get_response(send_id) is None


def test_comment_updates_response_and_enqueues_full_answer(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """The follow-up comment lands on the response and a new write-back carries score+comment."""
    send_id = _sent(store, make_send, t0)
    _done_sent_writebacks(store, t0)
    store.record_response(send_id, 1, "unsatisfied", t0)
    later = t0 + timedelta(minutes=3)
    response = store.record_comment(send_id, "slow refund", later)
    assert ("slow refund", 1, later) == (response.comment, response.score, response.updated_at)
    latest = store.pending_writebacks("hubspot", later, 10)[-1]
    actual = (latest.data["score"], latest.data["comment"], latest.data["category"])
    assert actual == (1, "slow refund", "unsatisfied")


def test_comment_without_score_and_unknown_sends_raise(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A comment needs a score first; an unknown send id is UnknownSend for both calls."""
    send_id = _sent(store, make_send, t0)
    with pytest.raises(NoResponseYet):
        store.record_comment(send_id, "hi", t0)
    with pytest.raises(UnknownSend):
        store.record_response(send_id + 100, 3, "satisfied", t0)
    with pytest.raises(UnknownSend):
        store.record_comment(send_id + 100, "hi", t0)
    assert store.counts()["responses"] == 0


def test_pending_writebacks_order_filter_and_limit(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """Rows come by contact, then age; other sources, finished and not-yet-due rows are left out."""
    b = _sent(store, make_send, t0, "b", contact_id="c2")
    a = _sent(store, make_send, t0, "a", contact_id="c1")
    _sent(store, make_send, t0, "z", contact_id="c0", source="zendesk")
    store.record_response(b, 5, "satisfied", t0 + timedelta(minutes=1))
    rows = store.pending_writebacks("hubspot", t0 + timedelta(minutes=1), 10)
    assert [("c1", a, "sent"), ("c2", b, "sent"), ("c2", b, "answer")] == [
        (w.contact_id, w.send_id, w.kind) for w in rows]
    assert len(store.pending_writebacks("hubspot", t0 + timedelta(minutes=1), 2)) == 2
    store.mark_writebacks_done([rows[0].id], t0)
    store.retry_writebacks_later([rows[1].id], "503", t0 + timedelta(minutes=5))
    assert [rows[2].id] == [
        w.id for w in store.pending_writebacks("hubspot", t0 + timedelta(minutes=4), 10)]


def test_retry_later_counts_attempts_and_comes_back(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A retried row reappears at next_attempt_at with attempts+1; done rows never reappear."""
    _sent(store, make_send, t0)
    [row] = store.pending_writebacks("hubspot", t0, 10)
    store.retry_writebacks_later([row.id], "429", t0 + timedelta(seconds=30))
    store.retry_writebacks_later([row.id], "429", t0 + timedelta(seconds=60))
    [again] = store.pending_writebacks("hubspot", t0 + timedelta(seconds=60), 10)
    assert (row.id, 2) == (again.id, again.attempts)
    store.mark_writebacks_done([row.id], t0 + timedelta(seconds=61))
    store.retry_writebacks_later([row.id], "late", t0)
    assert store.pending_writebacks("hubspot", t0 + timedelta(days=1), 10) == []
    assert (store.counts()["writebacks.pending"], store.counts()["writebacks.done"]) == (0, 1)


def test_rejected_writebacks_stay_visible(
    store: Store, make_send: MakeSend, t0: datetime
) -> None:
    """A rejected row leaves the queue but stays counted and keeps its error."""
    _sent(store, make_send, t0)
    [row] = store.pending_writebacks("hubspot", t0, 10)
    store.reject_writebacks([row.id], "400 property does not exist")
    with store.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT status, last_error, attempts FROM writebacks WHERE id = :id"),
            {"id": row.id},
        ).one()
    assert tuple(stored) == ("rejected", "400 property does not exist", 1)
    assert store.pending_writebacks("hubspot", t0, 10) == []
    assert store.counts()["writebacks.rejected"] == 1


def test_counts_cover_every_state(store: Store, make_send: MakeSend, t0: datetime) -> None:
    """counts() reports zeros for empty states and one entry per skip reason."""
    store.add_sends([make_send("p"), make_send("s", status="skipped", skip_reason="no_email")])
    expected = {
        "sends.pending": 1, "sends.claimed": 0, "sends.sending": 0, "sends.sent": 0,
        "sends.awaiting_reply": 0, "sends.outcome_unknown": 0, "sends.failed": 0,
        "sends.skipped": 1, "skipped.no_email": 1, "responses": 0,
        "writebacks.pending": 0, "writebacks.done": 0, "writebacks.rejected": 0,
        "hooks.pending": 0, "hooks.done": 0, "hooks.rejected": 0, "sends.held": 0,
        "sends.deferred": 0, "suppressions.unsubscribed": 0, "suppressions.snoozed": 0,
        "alerts.pending": 0, "alerts.delivered": 0, "alerts.dead": 0, "alerts.retrying": 0,
    }
    assert expected == store.counts()
