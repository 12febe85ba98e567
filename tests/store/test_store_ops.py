"""What operations read from the store: ids never reused after `forget`, counts that never
shrink, unsubscribe and snooze counts, source health, migration 0003 on a filled database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, select, text

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.engine import alembic_config, make_engine
from closedloop.daemon.store.sends import WRITEBACKS

MakeSend = Callable[..., NewSend]
LEASE = timedelta(minutes=5)


def _sent(store: Store, make_send: MakeSend, t0: datetime, key: str, **kw: object) -> int:
    store.add_sends([make_send(key, **kw)])
    [send] = store.claim_due_sends(t0, 1, LEASE)
    assert store.begin_sending(send.id, t0)
    store.mark_sent(send.id, t0, f"<{key}@x>")
    return send.id


def test_a_forgotten_response_id_is_never_given_again(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Answer, forget, answer again: the new id is above every id ever issued (on SQLite a
    plain INTEGER PRIMARY KEY would hand out the deleted highest id again)."""
    ann_1 = _sent(store, make_send, t0, "ann-1", email="ann@example.com")
    ann_2 = _sent(store, make_send, t0, "ann-2", email="ann@example.com")
    bea = _sent(store, make_send, t0, "bea", email="bea@example.com")
    issued = [store.record_response(s, 4, "satisfied", t0).id for s in (ann_1, ann_2)]
    store.forget("ann@example.com", t0)
    again = store.record_response(bea, 5, "satisfied", t0)
    assert again.id > max(issued)
    assert [r.response_id for r in store.export_responses()] == [again.id]


def test_forget_keeps_the_count_of_past_writebacks(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Write-backs already made stay counted (their rows emptied); pending ones are dropped,
    and one 'forget' row per CRM record is queued."""
    send_id = _sent(store, make_send, t0, "ann", email="ann@example.com", contact_id="c1")
    store.record_response(send_id, 2, "unsatisfied", t0)
    store.mark_writebacks_done([w.id for w in store.pending_writebacks("hubspot", t0, 100)
                                if w.kind == "sent"], t0)
    before = store.counts(t0)
    assert (before["writebacks.done"], before["writebacks.pending"]) == (1, 1)

    store.forget("ann@example.com", t0)
    after = store.counts(t0)
    assert (after["writebacks.done"], after["writebacks.pending"]) == (1, 1)  # + the forget row
    with store.engine.connect() as conn:
        rows = conn.execute(select(WRITEBACKS.c.kind, WRITEBACKS.c.status, WRITEBACKS.c.data)
                            .order_by(WRITEBACKS.c.id)).all()
    assert [tuple(r) for r in rows] == [("sent", "done", {}), ("forget", "pending", {})]


def test_status_counts_unsubscribes_and_snoozes_in_force(
        store: Store, make_send: MakeSend, t0: datetime) -> None:
    """Unsubscribed for good, and snoozes that have not ended at `now` (one ending exactly
    at `now` has ended; one a second later has not)."""
    ids = {key: _sent(store, make_send, t0, key) for key in ("u", "s1", "s2", "gone")}
    store.record_preference(ids["u"], "unsubscribe", None, t0)
    now = t0 + timedelta(days=10)
    store.record_preference(ids["s1"], "snooze", now + timedelta(seconds=1), t0)
    store.record_preference(ids["s2"], "snooze", now + timedelta(days=20), t0)
    store.record_preference(ids["gone"], "snooze", now, t0)
    counts = store.counts(now)
    assert (counts["suppressions.unsubscribed"], counts["suppressions.snoozed"]) == (1, 2)
    later = store.counts(now + timedelta(seconds=1))
    assert (later["suppressions.unsubscribed"], later["suppressions.snoozed"]) == (1, 1)


def test_source_state_since_moves_only_on_a_change(store: Store, t0: datetime) -> None:
    """A second refusal keeps the pause's start; recovery starts a new 'ok' period."""
    assert store.source_states(["hubspot"])["hubspot"].state == "ok"  # no row: nothing failed
    store.set_source_state("hubspot", "paused", t0, job="poll", error="x" * 500,
                           next_check_at=t0 + timedelta(minutes=5), failures=1)
    later = t0 + timedelta(minutes=5)
    store.set_source_state("hubspot", "paused", later, job="poll", error="again",
                           next_check_at=later + timedelta(minutes=10), failures=2)
    state = store.source_states()["hubspot"]
    assert (state.state, state.since, state.next_check_at, state.failures, state.error) == (
        "paused", t0, later + timedelta(minutes=10), 2, "again")
    store.set_source_state("hubspot", "ok", later + timedelta(minutes=10))
    state = store.source_states()["hubspot"]
    assert (state.state, state.since, state.next_check_at, state.healthy) == (
        "ok", later + timedelta(minutes=10), None, True)


def _raw_sent(conn: Connection, key: str, t0: datetime) -> int:
    """A sent survey and its 'sent' write-back, inserted with the 0002 columns."""
    send_id = conn.execute(text(
        "INSERT INTO sends (idem_key, program, survey_type, source, contact_id, email, "
        "created_at, due_at, status, attempts, sent_at, kind, reminder_no) VALUES (:k, 'p', "
        "'csat', 'hubspot', :k, :e, :t, :t, 'sent', 1, :t, 'survey', 0) RETURNING id"),
        {"k": key, "e": f"{key}@example.com", "t": t0}).scalar_one()
    _raw_writeback(conn, key, send_id, "sent", t0)
    return int(send_id)


def _raw_answer(conn: Connection, send_id: int, score: int, category: str,
                t0: datetime) -> int:
    """An answer and its 'answer' write-back, inserted with the 0002 columns."""
    response_id = conn.execute(text(
        "INSERT INTO responses (send_id, score, category, answered_at, updated_at) VALUES "
        "(:s, :score, :c, :t, :t) RETURNING id"),
        {"s": send_id, "score": score, "c": category, "t": t0}).scalar_one()
    contact = conn.execute(text("SELECT contact_id FROM sends WHERE id = :s"),
                           {"s": send_id}).scalar_one()
    _raw_writeback(conn, contact, send_id, "answer", t0)
    return int(response_id)


def _raw_writeback(conn: Connection, contact: str, send_id: int, kind: str,
                   t0: datetime) -> None:
    conn.execute(text(
        "INSERT INTO writebacks (source, contact_id, send_id, kind, data, created_at, status, "
        "attempts) VALUES ('hubspot', :c, :s, :k, '{}', :t, 'pending', 0)"),
        {"c": contact, "s": send_id, "k": kind, "t": t0})


def test_migration_0003_keeps_rows_of_a_filled_sqlite_database(
        tmp_path: Path, make_send: MakeSend, t0: datetime) -> None:
    """A database at 0002 with answers and write-backs upgrades in place: rows, the unique
    send_id and the foreign keys survive, and the rebuilt tables never reuse an id."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
    engine.dispose()
    with engine.begin() as conn:  # rows as a 0002 daemon wrote them (its columns only)
        first, second = (_raw_sent(conn, key, t0) for key in ("a", "b"))
        _raw_answer(conn, first, 3, "neutral", t0)
        top_id = _raw_answer(conn, second, 5, "satisfied", t0)
    engine.dispose()
    old = Store(url)
    old.migrate()
    with old.engine.connect() as conn:
        sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'responses'"))
        version = conn.scalar(text("SELECT version_num FROM alembic_version"))
        foreign = conn.execute(text("PRAGMA foreign_key_check")).all()
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert "AUTOINCREMENT" in sql
    assert foreign == []
    kept = old.get_response(first)
    assert kept is not None
    assert (kept.score, kept.category, kept.answered_at) == (3, "neutral", t0)
    assert old.counts(t0)["writebacks.pending"] == 4  # 2 'sent' + 2 'answer' rows
    with old.engine.begin() as conn:
        conn.execute(text("DELETE FROM writebacks WHERE send_id = :s"), {"s": second})
        conn.execute(text("DELETE FROM responses WHERE id = :r"), {"r": top_id})
    third = _sent(old, make_send, t0, "c")
    assert old.record_response(third, 1, "unsatisfied", t0).id > top_id
    old.dispose()
