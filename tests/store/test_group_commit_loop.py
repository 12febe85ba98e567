"""Group commit's event-loop callers (`run_together`, the web app's answers and link
openings): each caller hears its own outcome once the batch is committed, and a caller
cancelled before the writer took its write has it dropped. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, text

from closedloop.daemon.store import Store
from closedloop.daemon.store.group_commit import GroupCommit, Together

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _open(conn: Connection, send_id: int) -> int:
    if send_id < 0:
        raise ValueError(f"bad send {send_id}")
    conn.execute(text("INSERT INTO link_opens (send_id, score, opened_at) VALUES (:s, 1, :t)"),
                 {"s": send_id, "t": NOW})
    return send_id * 10


def _many(conn: Connection, items: list[int]) -> list[int | Exception]:
    return [_open(conn, item) for item in items]


OPENS: Together[int, int] = Together(many=_many, one=_open)


def _stored(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(conn.scalars(text("SELECT send_id FROM link_opens")))


@pytest.fixture
def writer(store: Store) -> GroupCommit:
    return GroupCommit(store.engine, idle_seconds=0.2)


def _in_a_loop_of_its_own(coro: object) -> object:
    """Run `coro` on a fresh loop in a thread (the test's own thread may hold Playwright's)."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coro)))  # type: ignore[arg-type]
    thread.start()
    thread.join(30)
    return result[0]


def test_forty_callers_on_one_loop_each_hear_their_own_outcome(
        store: Store, writer: GroupCommit) -> None:
    """Forty concurrent callers, one of them with a write that fails: each other caller gets
    its own result, the failing one its own error, every good write is stored (the batch's
    other writes still commit when one fails)."""
    async def callers() -> list[object]:
        tasks = [writer.run_together(OPENS, n) for n in range(1, 40)]
        tasks.append(writer.run_together(OPENS, -1))
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    outcomes = _in_a_loop_of_its_own(callers())
    assert isinstance(outcomes, list)
    shown = [o if isinstance(o, int) else repr(o) for o in outcomes]
    assert (shown, _stored(store)) == (
        [n * 10 for n in range(1, 40)] + ["ValueError('bad send -1')"], list(range(1, 40)))
    writer.close()


def test_a_caller_cancelled_before_the_writer_took_its_write_has_it_dropped(
        store: Store, writer: GroupCommit) -> None:
    """While the writer is busy, two callers queue; one is cancelled (its request gone):
    once the writer is free only the other's write is stored, and it hears its result."""
    busy, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        busy.set()
        release.wait(10)

    async def callers() -> tuple[object, bool]:
        first = writer.submit(hold)
        assert await asyncio.to_thread(busy.wait, 10)
        kept = asyncio.ensure_future(writer.run_together(OPENS, 1))
        gone = asyncio.ensure_future(writer.run_together(OPENS, 2))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        release.set()
        result = await kept
        await asyncio.wrap_future(first)
        return result, gone.cancelled()

    assert (_in_a_loop_of_its_own(callers()), _stored(store)) == ((10, True), [1])
    writer.close()
