"""The score pages' one trip on PostgreSQL, awaited on the event loop.

Each score page's store work on PostgreSQL is one statement (store/score_reads.py). It ran
on a reading thread (a round trip must not stall the loop), and the hop cost more than the
statement: the thread's wake-ups and its turns at the GIL against a busy event loop were
~270 µs of CPU per page, psycopg's blocking execute alone ~75 µs. Here the statement is
awaited on the loop through psycopg's async connections: no thread, no GIL hand-over, and
the loop serves other requests while the server answers.

`AsyncReaders` holds up to `size` autocommit connections (opened on first use), in
`synchronous_commit=off` like the threads' readers: their only writes are score links
opened, notes that may be lost. Requests do not take a connection each: each states its
statement and waits; up to `size` runners take what waits, a batch at a time, and send it
in pipeline mode, one round trip for the batch (psycopg's send, the wait and the wake-ups
were ~100 µs of the loop's CPU per page, ~50 µs per statement in batches of 4-16 as 16
clients make them). A batch is one implicit transaction (pipeline mode has one Sync), so
its statements see each other's openings as they would one after the other; none of them
waits for a row lock (store/score_reads.py: SKIP LOCKED), so two batches cannot deadlock.
A connection that fails is closed, never reused, and every request of its batch gets the
error: the next batch opens a fresh one (a restart or failover costs one batch of 503
pages, not every page after it). Errors come as SQLAlchemy's DBAPIError, as the store's
own reads raise them (the 503 page).

Every wait is bounded by `timeout` (READ_TIMEOUT by default): a request's, from its
statement stated to its row; a batch's, the connect (libpq's `connect_timeout` too) and its
statements (the server's `statement_timeout` too). A hung or unreachable server costs
a page the 503 page after that long, never a page held open for good, nor a runner held for
good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import psycopg
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from closedloop.daemon.store.score_reads import PageSend

log = structlog.get_logger(__name__)
READ_TIMEOUT = 5.0  # seconds a score page waits for its statement, all told
BATCH = 64  # statements run in one round trip at most


class _Ask:
    """One statement waiting for its turn in a batch."""

    __slots__ = ("deadline", "future", "params", "rows", "sql")

    def __init__(self, sql: str, params: dict[str, Any], rows: bool,
                 future: asyncio.Future[Any], deadline: float) -> None:
        self.sql, self.params, self.rows, self.future = sql, params, rows, future
        self.deadline = deadline


_Held = tuple[psycopg.AsyncConnection[Any], list[psycopg.AsyncCursor[Any]]]  # with its cursors


class _OnLoop:
    """What belongs to one event loop: its idle connections (each with its cursors: one
    made per statement cost ~10 µs), its queue, its runners and its timer. A runner or timer
    of an old loop only ever touches its own."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.idle: list[_Held] = []
        self.waiting: deque[_Ask] = deque()
        self.running = 0  # runners at work (counted down with no await after their last look)
        self.runners: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references
        # every request not answered yet, oldest first, and the one timer that ends the late
        # ones (a timer per request cost ~4 µs of a page's ~230)
        self.unanswered: deque[_Ask] = deque()
        self.watch: asyncio.TimerHandle | None = None

    def drop_idle(self) -> None:
        """Close the idle connections (one in use closes when its batch is done)."""
        idle, self.idle = self.idle, []
        for conn, _ in idle:
            _finish(conn)


class AsyncReaders:
    """Up to `size` async connections for store/score_reads.py's statements, each running
    the statements that waited meanwhile as one batch."""

    def __init__(self, engine: Engine, size: int, timeout: float | None = None) -> None:
        self._args, self._kwargs = engine.dialect.create_connect_args(engine.url)
        self._timeout = timeout = READ_TIMEOUT if timeout is None else timeout
        # libpq counts whole seconds, at least 2; the bound on the loop is the exact one
        self._kwargs.setdefault("connect_timeout", max(2, int(timeout + 0.999)))
        self._size = size
        self._here: _OnLoop | None = None
        self._generation = 0  # moved by close(): a connection opened before is not reused

    async def get_with(self, sql: str, params: dict[str, Any]) -> tuple[PageSend | None, bool]:
        """The statement's send (its PAGE_COLUMNS, if any) and the flag after them."""
        row = await self.row(sql, params)
        if row is None:
            return None, False
        return PageSend(*row[:-1]), bool(row[-1])

    async def row(self, sql: str, params: dict[str, Any]) -> Any:
        """The statement's first row as the driver gives it (None if it has none)."""
        return await self._run(sql, params, rows=True)

    async def run(self, sql: str, params: dict[str, Any]) -> None:
        """A statement that returns no rows (PRUNE)."""
        await self._run(sql, params, rows=False)

    async def _run(self, sql: str, params: dict[str, Any], *, rows: bool) -> Any:
        """The statement's first row when `rows` (None if it has none), within the timeout.
        It waits for a runner: one starts when fewer than `size` run."""
        here = self._on_this_loop()
        loop = here.loop
        ask = _Ask(sql, params, rows, loop.create_future(), loop.time() + self._timeout)
        here.waiting.append(ask)
        here.unanswered.append(ask)
        if here.watch is None:
            here.watch = loop.call_at(ask.deadline, self._end_late, here)
        if here.running < self._size:
            here.running += 1
            runner = loop.create_task(self._runner(here))
            here.runners.add(runner)
            runner.add_done_callback(here.runners.discard)
        return await ask.future

    def _end_late(self, here: _OnLoop) -> None:
        """The timer: each request past its deadline gets the timeout error (the 503 page),
        wherever its statement is; the timer is set again for the oldest left."""
        now, unanswered = here.loop.time(), here.unanswered
        while unanswered and (unanswered[0].future.done() or unanswered[0].deadline <= now):
            ask = unanswered.popleft()
            if not ask.future.done():
                log.warning("web.read_timeout", seconds=self._timeout)
                ask.future.set_exception(_timed_out(ask.sql, ask.params, self._timeout))
        here.watch = (here.loop.call_at(unanswered[0].deadline, self._end_late, here)
                      if unanswered else None)

    async def _runner(self, here: _OnLoop) -> None:
        """Run what waits, a batch at a time, until nothing does. The count goes down with no
        await after the last look at the queue: a request that finds every runner busy is
        sure one of them will see its statement."""
        waiting = here.waiting
        try:
            while waiting:
                batch: list[_Ask] = []
                while waiting and len(batch) < BATCH:
                    ask = waiting.popleft()
                    if not ask.future.done():  # ended late meanwhile: not run
                        batch.append(ask)
                if batch:
                    await self._answer(here, batch)
        finally:
            here.running -= 1

    async def _answer(self, here: _OnLoop, batch: list[_Ask]) -> None:
        """Run one batch, bounded by the last deadline of its requests; each request gets its
        row or the error (a cancellation, the loop's end, too: as a timeout, the 503 page)."""
        try:
            async with asyncio.timeout_at(max(ask.deadline for ask in batch)):
                results = await self._run_batch(here, batch)
        except BaseException as exc:
            for ask in batch:
                if not ask.future.done():
                    ask.future.set_exception(_as_dbapi(exc, ask, self._timeout))
            if not isinstance(exc, Exception):
                raise
            return
        for ask, row in zip(batch, results, strict=True):
            if not ask.future.done():
                ask.future.set_result(row)
        unanswered = here.unanswered  # answered ones leave it now, not at the timer
        while unanswered and unanswered[0].future.done():
            unanswered.popleft()

    async def _run_batch(self, here: _OnLoop, batch: list[_Ask]) -> list[Any]:
        """The batch's first rows, in order, on one connection: one statement alone, more
        in pipeline mode (one round trip; one implicit transaction, so each sees the ones
        before it, as one after the other would)."""
        generation = self._generation
        conn, cursors = here.idle.pop() if here.idle else await self._connect()
        try:
            while len(cursors) < len(batch):
                cursors.append(conn.cursor())
            if len(batch) == 1:
                ask = batch[0]
                await cursors[0].execute(ask.sql, ask.params)
                results = [await cursors[0].fetchone() if ask.rows else None]
            else:
                async with conn.pipeline():
                    for ask, cursor in zip(batch, cursors, strict=False):
                        await cursor.execute(ask.sql, ask.params)
                results = [await cursor.fetchone() if ask.rows else None
                           for ask, cursor in zip(batch, cursors, strict=False)]
        except BaseException:  # a timeout's cancellation too
            _finish(conn)  # maybe broken: never reused
            raise
        if generation != self._generation or here is not self._here:  # closed meanwhile
            _finish(conn)  # (Store.dispose()), or its loop is no longer the one served
        else:
            here.idle.append((conn, cursors))
        return results

    def close(self) -> None:
        """Close the idle connections; one in use closes when its batch is done. Later
        requests open fresh ones (an app used again after its store's dispose)."""
        self._generation += 1
        if self._here is not None:
            self._here.drop_idle()

    def _on_this_loop(self) -> _OnLoop:
        """This loop's state: a connection waits on the loop it was made on, so a new loop
        (an app served again) starts with fresh connections, queue, runners and timer."""
        loop = asyncio.get_running_loop()
        here = self._here
        if here is None or here.loop is not loop:
            if here is not None:
                here.drop_idle()
            here = self._here = _OnLoop(loop)
        return here

    async def _connect(self) -> _Held:
        conn = await psycopg.AsyncConnection.connect(*self._args, autocommit=True,
                                                     **self._kwargs)
        try:
            await conn.execute("SET synchronous_commit TO off")
            await conn.execute(f"SET statement_timeout TO {int(self._timeout * 1000)}")
        except BaseException:
            _finish(conn)
            raise
        return conn, [conn.cursor()]


def _timed_out(sql: str | None, params: dict[str, Any] | None, timeout: float) -> Exception:
    error = psycopg.errors.ConnectionTimeout(
        f"no answer from the database within {timeout:g} s")
    return DBAPIError.instance(sql, params, error, psycopg.Error)


def _as_dbapi(exc: BaseException, ask: _Ask, timeout: float) -> BaseException:
    """What a request whose batch failed raises: SQLAlchemy's DBAPIError, as the store's own
    reads raise it (the 503 page); a runner cancelled (the loop's end) counts as a timeout."""
    if isinstance(exc, (TimeoutError, asyncio.CancelledError)):
        return _timed_out(ask.sql, ask.params, timeout)
    if isinstance(exc, psycopg.Error):
        return DBAPIError.instance(ask.sql, ask.params, exc, psycopg.Error)
    return exc


def _finish(conn: psycopg.AsyncConnection[Any]) -> None:
    """Close an async connection without awaiting (what its `close()` does, minus the
    pool check): usable from a finalizer or another thread."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()
