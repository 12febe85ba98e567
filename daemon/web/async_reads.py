"""The score pages' one trip on PostgreSQL, awaited on the event loop.

Each score page's store work on PostgreSQL is one statement (store/score_reads.py). It ran
on a reading thread (a round trip must not stall the loop), and the hop cost more than the
statement: the thread's wake-ups and its turns at the GIL against a busy event loop were
~270 µs of CPU per page, psycopg's blocking execute alone ~75 µs. Here the statement is
awaited on the loop through psycopg's async connections: no thread, no GIL hand-over, and
the loop serves other requests while the server answers.

`AsyncReaders` holds up to `size` autocommit connections (opened on first use, each used
by one request at a time), in `synchronous_commit=off` like the threads' readers: their
only writes are score links opened, notes that may be lost. A connection that fails is
closed, never reused: the next request opens a fresh one (a restart or failover costs one
503 page, not every page after it). Errors come as SQLAlchemy's DBAPIError, as the store's
own reads raise them (the 503 page).

Every wait is bounded by `timeout` (READ_TIMEOUT by default): a free connection, the
connect (libpq's `connect_timeout` too) and the statement (the server's `statement_timeout`
too, so a statement stuck on a lock ends there as well). A hung or unreachable server costs
a page the 503 page after that long, never a page held open for good, nor the slots held by
pages that wait for good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

import psycopg
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from closedloop.daemon.store import SendRecord
from closedloop.daemon.store.records import SEND_TIMES, from_db, send_record
from closedloop.daemon.store.sends import SENDS

log = structlog.get_logger(__name__)
READ_TIMEOUT = 5.0  # seconds a score page waits for its statement, all told


class SendRows:
    """A `sends` row as the driver returns it -> SendRecord, as `send_record` makes it from
    SQLAlchemy's row (the columns' own result processors, datetimes made aware UTC), without
    SQLAlchemy's execution around it. The record's fields are set in one go: a frozen
    dataclass's `__init__` sets 35 fields one `object.__setattr__` at a time, and that and
    the dict copies were most of a score page's store read."""

    def __init__(self, engine: Engine) -> None:
        columns = list(SENDS.c)
        self._names = [c.name for c in columns]
        self._convert: list[Callable[[Any], Any] | None] = [
            _aware(c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None))
            if c.name in SEND_TIMES else
            c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
            for c in columns]
        self._direct = set(self._names) == {f.name for f in fields(SendRecord)}

    def record(self, row: Any) -> SendRecord:
        values = {name: value if convert is None or value is None else convert(value)
                  for name, convert, value in zip(self._names, self._convert, row, strict=True)}
        if not self._direct:  # a column that is no field (or the reverse): the checked way
            return send_record(values)
        record = object.__new__(SendRecord)
        record.__dict__.update(values)
        return record


def _aware(convert: Callable[[Any], Any] | None) -> Callable[[Any], datetime]:
    """A datetime column's processor, then `from_db` (aware UTC, as `send_record` does)."""
    if convert is None:
        return from_db
    return lambda value: from_db(convert(value))


class AsyncReaders:
    """Up to `size` async connections for store/score_reads.py's statements."""

    def __init__(self, engine: Engine, size: int, timeout: float | None = None) -> None:
        self._args, self._kwargs = engine.dialect.create_connect_args(engine.url)
        self._timeout = timeout = READ_TIMEOUT if timeout is None else timeout
        # libpq counts whole seconds, at least 2; the bound on the loop is the exact one
        self._kwargs.setdefault("connect_timeout", max(2, int(timeout + 0.999)))
        self._rows = SendRows(engine)
        self._size = size
        # idle connections, each with its cursor (one made per statement cost ~10 µs)
        self._idle: list[tuple[psycopg.AsyncConnection[Any], psycopg.AsyncCursor[Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._generation = 0  # moved by close(): a connection opened before is not reused

    async def get_with(self, sql: str, params: dict[str, Any]) -> tuple[SendRecord | None, bool]:
        """The statement's send (if any) and the flag after its columns."""
        row = await self._run(sql, params, rows=True)
        if row is None:
            return None, False
        return self._rows.record(row[:-1]), bool(row[-1])

    async def run(self, sql: str, params: dict[str, Any]) -> None:
        """A statement that returns no rows (PRUNE)."""
        await self._run(sql, params, rows=False)

    async def _run(self, sql: str, params: dict[str, Any], *, rows: bool) -> Any:
        """The statement's first row when `rows` (None if it has none), within the timeout.
        The cursor's `description` is never asked: it builds an object per column, 35 for a
        send."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._run_now(sql, params, rows=rows)
        except TimeoutError as exc:
            log.warning("web.read_timeout", seconds=self._timeout)
            error = psycopg.errors.ConnectionTimeout(
                f"no answer from the database within {self._timeout:g} s")
            raise DBAPIError.instance(sql, params, error, psycopg.Error) from exc

    async def _run_now(self, sql: str, params: dict[str, Any], *, rows: bool) -> Any:
        slots = self._slots_here()
        async with slots:
            generation = self._generation
            try:
                conn, cursor = self._idle.pop() if self._idle else await self._connect()
            except psycopg.Error as exc:  # connect() raises the driver's own error
                raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc
            try:
                await cursor.execute(sql, params)
                row = await cursor.fetchone() if rows else None
            except BaseException as exc:  # a timeout's cancellation too
                _finish(conn)  # maybe broken: never reused
                if isinstance(exc, psycopg.Error):
                    raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
                raise
            if generation != self._generation:  # closed meanwhile (Store.dispose())
                _finish(conn)
            else:
                self._idle.append((conn, cursor))
        return row

    def close(self) -> None:
        """Close the idle connections; one in use closes when its request is done. Later
        requests open fresh ones (an app used again after its store's dispose)."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            _finish(conn)

    def _slots_here(self) -> asyncio.Semaphore:
        """This loop's semaphore: a connection waits on the loop it was made on, so a new
        loop (an app served again) starts with fresh connections."""
        loop = asyncio.get_running_loop()
        if self._slots is None or loop is not self._loop:
            idle, self._idle = self._idle, []
            for conn, _ in idle:
                _finish(conn)
            self._loop, self._slots = loop, asyncio.Semaphore(self._size)
        return self._slots

    async def _connect(self) -> tuple[psycopg.AsyncConnection[Any], psycopg.AsyncCursor[Any]]:
        conn = await psycopg.AsyncConnection.connect(*self._args, autocommit=True,
                                                     **self._kwargs)
        try:
            await conn.execute("SET synchronous_commit TO off")
            await conn.execute(f"SET statement_timeout TO {int(self._timeout * 1000)}")
        except BaseException:
            _finish(conn)
            raise
        return conn, conn.cursor()


def _finish(conn: psycopg.AsyncConnection[Any]) -> None:
    """Close an async connection without awaiting (what its `close()` does, minus the
    pool check): usable from a finalizer or another thread."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()
