"""The score pages' own reads of a send give what the store's `get_send` gives: web/
answering.py's held connection the whole record (every field, datetimes aware UTC, JSON
segments decoded, on SQLite and PostgreSQL), web/async_reads.py on PostgreSQL the page's
columns of it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from web_support import on_a_loop

from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.store.score_reads import (
    OPEN_AND_READ,
    PAGE_COLUMNS,
    READ_WITH_BURST,
    PageSend,
)
from closedloop.daemon.store.sends import SENDS
from closedloop.daemon.web.answering import AnswerPath
from closedloop.daemon.web.async_reads import AsyncReaders
from closedloop.daemon.web.scanner import OpenTracker

CLOSED = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
DUE = CLOSED + timedelta(days=1)


def _full_send(store: Store) -> int:
    """A send with every optional field the pages might show set (segments, times, zone)."""
    store.add_sends([NewSend(
        idem_key="rows-1", program="nps", survey_type="nps", source="hubspot",
        contact_id="c1", due_at=DUE, created_at=CLOSED, ticket_id="t1",
        email="p1@example.test", first_name="Bo", language="de", owner_id="o1", team_id="tm",
        pipeline="p", subject="Printer", closed_at=CLOSED, timezone="Europe/Berlin",
        organization_id="org", segments={"plan": "pro", "region": "EU"})])
    with store.engine.connect() as conn:
        return int(conn.scalar(text("SELECT max(id) FROM sends")))


def _times(record: SendRecord) -> dict[str, object]:
    return {f.name: getattr(record, f.name).tzinfo for f in fields(record)
            if isinstance(getattr(record, f.name), datetime)}


def test_the_pages_held_reader_gives_the_stores_record(both_store: Store) -> None:
    """SQLite and PostgreSQL: `AnswerPath.get_send` == `Store.get_send`, field for field,
    every datetime aware UTC; an unknown id is None for both."""
    send_id = _full_send(both_store)
    path = AnswerPath(both_store, OpenTracker(), lambda: CLOSED)
    try:
        mine, theirs = path.get_send(send_id), both_store.get_send(send_id)
        assert mine == theirs
        assert mine is not None
        assert set(_times(mine).values()) == {UTC}
        assert (mine.segments, mine.closed_at) == ({"plan": "pro", "region": "EU"}, CLOSED)
        assert (path.get_send(send_id + 1), both_store.get_send(send_id + 1)) == (None, None)
    finally:
        path.close()


@pytest.mark.postgres
def test_the_async_reader_gives_the_stores_record_as_the_pages_read_it(pg_url: str) -> None:
    """PostgreSQL: the one trip awaited on the loop reads the page's columns of the store's
    record (every one the pages use: mypy holds them to SendView), and no burst; an unknown
    id is None."""
    store = Store(pg_url)
    store.migrate()
    readers = AsyncReaders(store.engine, 2)
    try:
        send_id = _full_send(store)
        params = {"send_id": send_id, "score": 5, "since": CLOSED}
        send, burst = on_a_loop(readers.get_with(READ_WITH_BURST, params))
        unknown = on_a_loop(readers.get_with(READ_WITH_BURST, {**params, "send_id": 999}))
        opened, _ = on_a_loop(readers.get_with(OPEN_AND_READ, {
            **params, "now": DUE, "programs": ["nps"]}))
        record = store.get_send(send_id)
        assert record is not None
        page = PageSend(**{name: getattr(record, name) for name in PAGE_COLUMNS})
        assert (send, burst, unknown, opened) == (page, False, (None, False), page)
        assert set(PAGE_COLUMNS) <= {c.name for c in SENDS.c}
        assert (record.language, record.first_name, record.timezone) == (
            "de", "Bo", "Europe/Berlin")  # set, so the comparison compares something
    finally:
        readers.close()
        store.dispose()
