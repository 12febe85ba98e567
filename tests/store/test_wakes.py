"""Wake gates (store/wakes.py): the write stamps and the gate's edges, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.exc import OperationalError

from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.sends import CURSORS, SENDS
from closedloop.daemon.store.wakes import Gate, WriteCounter

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STALE = timedelta(minutes=5)


def _send(store: Store, key: str) -> None:
    store.add_sends([NewSend(idem_key=key, program="csat", survey_type="csat",
                             source="hubspot", contact_id="1", due_at=NOW, created_at=NOW,
                             email="a@example.com")])


def test_a_committed_write_moves_its_tables_stamp_only(store: Store) -> None:
    """An insert into sends moves the sends stamp and not the writebacks one; a read
    moves nothing."""
    before = (store.writes.stamp(["sends"]), store.writes.stamp(["writebacks"]))
    with store.engine.connect() as conn:
        conn.execute(select(SENDS.c.id)).all()
    assert (store.writes.stamp(["sends"]), store.writes.stamp(["writebacks"])) == before
    _send(store, "csat:a")
    assert store.writes.stamp(["sends"]) != before[0]
    assert store.writes.stamp(["writebacks"]) == before[1]


def test_a_commit_that_raises_after_landing_still_moves_the_stamp(tmp_path: Any) -> None:
    """A COMMIT whose answer is lost (the connection cut after the server committed) raises,
    yet the row may be there: the stamp moves all the same, so no gate sits on a write that
    landed (before, a raising commit left the stamp and the gate shut for up to 10 runs)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE cursors (v INTEGER)"))
    commit = engine.dialect.do_commit

    def lost_answer(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        raise sqlite3.OperationalError("disk I/O error")

    engine.dialect.do_commit = lost_answer  # type: ignore[method-assign]
    counter = WriteCounter(engine)
    before = counter.stamp(["cursors"])
    with pytest.raises(OperationalError), engine.begin() as conn:
        conn.execute(text("INSERT INTO cursors (v) VALUES (1)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cursors")).scalar() == 1  # it landed
    assert counter.stamp(["cursors"]) != before
    engine.dispose()


def test_the_stamp_moves_after_the_commit_not_at_the_statement(store: Store) -> None:
    """Inside the writing transaction the stamp is unchanged (a reader that took it then and
    read before the commit must see it move later); after the commit it has moved."""
    before = store.writes.stamp(["cursors"])
    with store.engine.begin() as conn:
        conn.execute(insert(CURSORS).values(source="hubspot", name="x", value="1",
                                            updated_at=NOW))
        inside = store.writes.stamp(["cursors"])
    assert (inside == before, store.writes.stamp(["cursors"]) != before) == (True, True)


def test_a_write_of_another_store_is_not_counted(store: Store) -> None:
    """Another process's writes (here: another engine) do not move this one's stamps:
    that is what the gates' max_stale bounds."""
    other = Store(store.engine.url.render_as_string(hide_password=False))
    try:
        before = store.writes.stamp(["sends"])
        _send(other, "csat:c")
        assert store.writes.stamp(["sends"]) == before
    finally:
        other.dispose()


def _gate(until: datetime | None, *, settle: timedelta = timedelta(0)) -> tuple[Gate, WriteCounter]:
    counter = WriteCounter()  # stamps only: no engine to watch
    gate = Gate(counter, ["sends"], STALE, settle=settle)
    gate.shut(NOW - timedelta(hours=1))  # observed once, long ago
    gate.learn(gate.stamp(), NOW, until)
    return gate, counter


def test_gate_holds_until_its_time_and_not_at_it() -> None:
    """Shut one second before `until`, open at `until`."""
    gate, _ = _gate(NOW + timedelta(minutes=2))
    assert (gate.shut(NOW + timedelta(minutes=2) - timedelta(seconds=1)),
            gate.shut(NOW + timedelta(minutes=2))) == (True, False)


def test_gate_rereads_after_max_stale() -> None:
    """With nothing due by time (until None): shut one second before max_stale, open at it."""
    gate, _ = _gate(None)
    assert (gate.shut(NOW + STALE - timedelta(seconds=1)), gate.shut(NOW + STALE)) == \
        (True, False)


def test_gate_opens_on_a_write_and_on_a_clock_set_back() -> None:
    """A counted write to its table opens it; a write to another table does not; a clock
    earlier than the read opens it."""
    gate, counter = _gate(None)
    counter.bump(["writebacks"])
    assert gate.shut(NOW + timedelta(seconds=1)) is True
    assert gate.shut(NOW - timedelta(seconds=1)) is False
    counter.bump(["sends"])
    assert gate.shut(NOW + timedelta(seconds=1)) is False


def test_gate_opens_on_an_unknown_write() -> None:
    """A write whose table the counter could not tell (`*`) opens every gate."""
    gate, counter = _gate(None)
    counter.bump(["*"])
    assert gate.shut(NOW + timedelta(seconds=1)) is False


def test_settle_keeps_the_gate_open_until_a_read_settle_after_the_change() -> None:
    """With `settle` (themes read up to now - lag): a read less than `settle` after the last
    change it observed does not shut the gate; a read `settle` after it does."""
    gate, counter = _gate(None, settle=timedelta(seconds=5))
    counter.bump(["sends"])
    assert gate.shut(NOW + timedelta(seconds=10)) is False  # change observed at +10 s
    gate.learn(gate.stamp(), NOW + timedelta(seconds=14), None)
    assert gate.shut(NOW + timedelta(seconds=20)) is False
    gate.learn(gate.stamp(), NOW + timedelta(seconds=15), None)
    assert gate.shut(NOW + timedelta(seconds=20)) is True
