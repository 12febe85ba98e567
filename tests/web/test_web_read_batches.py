"""PostgreSQL: the score pages' statements that wait together run as one batch (web/
async_reads.py): one round trip and one transaction, each statement seeing the ones before
it as if run one after the other; a statement that fails fails its batch only; no batch
waits for another transaction's row locks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from web_support import NOW, on_a_loop, one_send

from closedloop.daemon.store import Store
from closedloop.daemon.store.score_reads import OPEN_AND_READ, READ_WITH_BURST
from closedloop.daemon.store.tables import LinkOpen
from closedloop.daemon.web.async_reads import AsyncReaders

WINDOW = timedelta(seconds=60)
pytestmark = pytest.mark.postgres


def _open(send_id: int, score: int) -> dict[str, Any]:
    return {"send_id": send_id, "score": score, "now": NOW, "since": NOW - WINDOW,
            "programs": ["nps"]}


def _opens(store: Store) -> list[tuple[int, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(LinkOpen.send_id, LinkOpen.score).order_by(LinkOpen.id))
        return [(r.send_id, r.score) for r in rows]


def test_statements_stated_together_are_one_transaction_and_alone_are_not(
        pg_store: Store) -> None:
    """Three statements awaited together share one transaction (one batch, one round trip);
    three awaited one after the other have three."""
    readers = AsyncReaders(pg_store.engine, 1)
    txid = "SELECT txid_current()"

    async def together() -> list[Any]:
        return list(await asyncio.gather(*(readers.row(txid, {}) for _ in range(3))))

    async def one_by_one() -> list[Any]:
        return [await readers.row(txid, {}) for _ in range(3)]

    try:
        batched, alone = on_a_loop(together()), on_a_loop(one_by_one())
    finally:
        readers.close()
    assert (len(set(batched)), len(set(alone))) == (1, 3)


@pytest.mark.parametrize("together", [True, False], ids=["batched", "one-by-one"])
def test_a_batch_sees_its_own_openings_as_one_after_the_other(
        pg_store: Store, together: bool) -> None:
    """Scores 3, 7, 3 of one survey opened in one batch: the first is no burst, the 7 sees
    the 3 before it, the last 3 sees the 7: the same answers as one by one, every opening
    noted in order."""
    send_id = one_send(pg_store)
    readers = AsyncReaders(pg_store.engine, 1)
    asks = [_open(send_id, score) for score in (3, 7, 3)]

    async def run() -> list[tuple[Any, bool]]:
        if together:
            return list(await asyncio.gather(*(readers.get_with(OPEN_AND_READ, p)
                                               for p in asks)))
        return [await readers.get_with(OPEN_AND_READ, p) for p in asks]

    try:
        pages = on_a_loop(run())
    finally:
        readers.close()
    assert [(send.id, burst) for send, burst in pages] == [
        (send_id, False), (send_id, True), (send_id, True)]
    assert _opens(pg_store) == [(send_id, 3), (send_id, 7), (send_id, 3)]


def test_a_failing_statement_fails_its_batch_and_the_next_batch_is_served(
        pg_store: Store) -> None:
    """A statement the server refuses fails every request of its batch (one transaction:
    the 503 page for each), and the connection is dropped; the next request is served on a
    fresh one."""
    send_id = one_send(pg_store)
    readers = AsyncReaders(pg_store.engine, 1)
    ask = {"send_id": send_id, "score": 5, "since": NOW - WINDOW}

    async def run() -> tuple[list[Any], tuple[Any, bool]]:
        failed = await asyncio.gather(readers.get_with(READ_WITH_BURST, ask),
                                      readers.row("SELECT 1 / 0", {}), return_exceptions=True)
        return list(failed), await readers.get_with(READ_WITH_BURST, ask)

    try:
        failed, (send, burst) = on_a_loop(run())
    finally:
        readers.close()
    assert [isinstance(error, DBAPIError) for error in failed] == [True, True]
    assert "division by zero" in str(failed[1])
    assert (send.id if send else None, burst) == (send_id, False)


@pytest.mark.parametrize("locked", [True, False], ids=["locked-elsewhere", "free"])
def test_a_stale_opening_locked_elsewhere_is_left_not_waited_for(
        pg_store: Store, pg_url: str, locked: bool) -> None:
    """Another transaction holds the survey's stale opening (another batch dropping it): the
    page is served at once, the stale row left to that transaction; free, it is dropped. No
    batch waits for another's locks, so two cannot deadlock."""
    send_id = one_send(pg_store)
    with pg_store.engine.begin() as conn:
        conn.execute(insert(LinkOpen), [
            {"send_id": send_id, "score": 1, "opened_at": NOW - WINDOW * 2}])
    readers = AsyncReaders(pg_store.engine, 1, timeout=2.0)
    with psycopg.connect(pg_url) as holder:
        if locked:
            holder.execute("SELECT id FROM link_opens FOR UPDATE").fetchall()
        try:
            send, burst = on_a_loop(readers.get_with(OPEN_AND_READ, _open(send_id, 5)))
        finally:
            readers.close()
        holder.rollback()
    assert (send.id if send else None, burst) == (send_id, False)
    assert _opens(pg_store) == ([(send_id, 1)] if locked else []) + [(send_id, 5)]


async def _after(readers: AsyncReaders, delay: float, sql: str) -> tuple[str, float]:
    """`sql` stated `delay` seconds from now: ("row" or "503", when it was answered)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    try:
        await readers.row(sql, {})
    except DBAPIError:
        return "503", loop.time()
    return "row", loop.time()


def test_a_statement_stated_while_every_runner_is_busy_is_run_after_its_batch(
        pg_store: Store) -> None:
    """One runner, busy with a slow statement when the next is stated: it runs the newcomer
    when its batch is done (it looks at the queue again), not at the newcomer's deadline."""
    readers = AsyncReaders(pg_store.engine, 1, timeout=2.0)

    async def run() -> list[tuple[str, float]]:
        return list(await asyncio.gather(_after(readers, 0, "SELECT pg_sleep(0.3)"),
                                         _after(readers, 0.1, "SELECT 1")))

    try:
        (slow, _), (newcomer, _) = on_a_loop(run())
    finally:
        readers.close()
    assert (slow, newcomer) == ("row", "row")


def test_a_request_ends_at_its_own_deadline_though_its_batch_runs_on(pg_store: Store) -> None:
    """A quick statement batched behind a busy runner with a slow one (one transaction, one
    answer for both): the quick one's request gets the 503 page at its own deadline, the
    slow one's at its later one, not both at the batch's end."""
    readers = AsyncReaders(pg_store.engine, 1, timeout=2.0)

    async def run() -> list[tuple[str, float]]:
        return list(await asyncio.gather(_after(readers, 0, "SELECT pg_sleep(0.5)"),
                                         _after(readers, 0.1, "SELECT 1"),
                                         _after(readers, 0.4, "SELECT pg_sleep(5)")))

    try:
        (first, _), (quick, quick_at), (slow, slow_at) = on_a_loop(run())
    finally:
        readers.close()
    assert (first, quick, slow) == ("row", "503", "503")
    assert slow_at - quick_at >= 0.2  # 0.3 apart, their deadlines'
