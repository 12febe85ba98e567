"""The store side of the score pages (GET landing, POST record), without a thread per request.

At 16 connections a thread per request queued on SQLite's write lock (p99 1.9 s), and the hop
to the thread pool cost more than the lookup itself. So:

- reads run on the event loop on SQLite (in WAL mode a reader never waits for a writer, and a
  lookup by primary key takes about a tenth of a millisecond); on PostgreSQL the score pages'
  one statement is awaited on the loop through psycopg's async connections (web/
  async_reads.py: a round trip must not stall every other request, and a thread hop cost
  more than the statement), other reads run on a worker thread;
- writes (the answer; on PostgreSQL also the score link opened, which replicas share) go to
  the group commit (store/group_commit.py): one durable transaction for the requests of the
  moment, each request answered only once that transaction is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from closedloop.daemon.store import ResponseRecord, SendRecord, Store
from closedloop.daemon.store.answer_batch import Answer, record_responses_with
from closedloop.daemon.store.answer_driver import DriverBatch
from closedloop.daemon.store.answers import record_response_in
from closedloop.daemon.store.engine import read_only
from closedloop.daemon.store.group_commit import GroupCommit, Together
from closedloop.daemon.store.score_reads import (
    OPEN_AND_READ,
    PRUNE,
    PRUNE_EVERY,
    READ_WITH_BURST,
    PageSend,
)
from closedloop.daemon.store.sends import SEND_BY_ID
from closedloop.daemon.web.async_reads import AsyncReaders
from closedloop.daemon.web.scanner import (
    LINK_OPENS_TOGETHER,
    LinkOpens,
    OpenTracker,
    SharedOpenTracker,
)
from closedloop.daemon.web.send_rows import SendRows

P = ParamSpec("P")
READ_THREADS = 4
# Answers of one batch are written set-wise (store/answer_batch.py) on the driver's cursor
# (store/answer_driver.py), one by one through SQLAlchemy on error.
ANSWERS: Together[Answer, ResponseRecord] = Together(
    many=lambda conn, answers: record_responses_with(conn, answers, DriverBatch(conn)),
    one=lambda conn, a: record_response_in(conn, a.send_id, a.score, a.category, a.now))
T = TypeVar("T")


class AnswerPath:
    """Reads, link openings and answers for the score pages of one app."""

    def __init__(self, store: Store, opens: LinkOpens, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.opens = opens
        self.clock = clock
        self.writer = GroupCommit(store.engine)
        self.inline = store.engine.dialect.name == "sqlite"
        # Readers hold a driver connection each: the event loop's on SQLite, one per reading
        # thread on PostgreSQL (READ_THREADS of them, so the pool is not drained).
        self._readers = threading.local()
        self._read_threads = None if self.inline else ThreadPoolExecutor(
            READ_THREADS, thread_name_prefix="answer-read")
        # Every connection the path holds, closed by Store.dispose() (as often as it is
        # called: what the pages open again after one is closed by the next), by close(),
        # or when the app is dropped and collected: a thread-local dies with its thread,
        # later, and a driver connection freed open warns and holds a PostgreSQL backend.
        self._held = _Held(self.writer)
        self._closer = weakref.finalize(self, _close_held, self._held, self._read_threads)
        close = weakref.WeakMethod(self._held.close)  # nor keeps them once the path is gone
        store.held_closers.append(lambda: (held := close()) is not None and held())
        self._opens = itertools.count(1)  # every PRUNE_EVERY openings, everyone's stale ones
        self._async: AsyncReaders | None = None  # the one trip on the loop (web/async_reads.py)

    def get_send(self, send_id: int) -> SendRecord | None:
        """The send behind a token, through this thread's held driver connection and the
        store's own query compiled once, its columns converted by the columns' own result
        processors: SQLAlchemy's execution and a pool checkout (with its ping) around a
        lookup by primary key cost ten times the lookup, on every score page."""
        return self._on_reader(lambda reader: reader.get(send_id))

    @property
    def one_trip(self) -> bool:
        """PostgreSQL with the shared link memory: each score page's store work is one
        statement (store/score_reads.py)."""
        return self._read_threads is not None and isinstance(self.opens, SharedOpenTracker)

    async def open_link_on_loop(self, send_id: int, score: int, programs: list[str]
                                ) -> tuple[PageSend | None, bool]:
        """GET, one trip, its statement awaited on the event loop (web/async_reads.py): the
        send; its opening noted when its program is one of `programs` (those whose scale has
        `score`); whether it is part of a burst."""
        assert isinstance(self.opens, SharedOpenTracker)
        _, _, now, window = self.opens.opening(send_id, score)
        params = {"send_id": send_id, "score": score, "now": now, "since": now - window,
                  "programs": programs}
        readers = self._readers_on_loop()
        send, burst = await readers.get_with(OPEN_AND_READ, params)
        if send is not None and send.program in programs and next(self._opens) % PRUNE_EVERY == 0:
            await readers.run(PRUNE, {"since": params["since"]})
        return send, burst

    async def read_with_burst_on_loop(self, send_id: int, score: int
                                      ) -> tuple[PageSend | None, bool]:
        """POST, one trip, awaited on the event loop: the send and whether this link is part
        of a burst."""
        assert isinstance(self.opens, SharedOpenTracker)
        _, _, now, window = self.opens.opening(send_id, score)
        params = {"send_id": send_id, "score": score, "since": now - window}
        return await self._readers_on_loop().get_with(READ_WITH_BURST, params)

    def _readers_on_loop(self) -> AsyncReaders:
        if self._async is None:
            self._async = AsyncReaders(self.store.engine, READ_THREADS)
            self._held.keep(self._async)  # reusable after a close: kept for every dispose
        return self._async

    def _on_reader(self, use: Callable[[_SendReader], T]) -> T:
        """`use` this thread's held reader; on any error the reader is dropped (its
        connection may be broken) and the next call opens a fresh one, as after a dispose."""
        reader: _SendReader | None = self._held.current(self._readers, "reader")
        if reader is None:
            reader = _SendReader(self.store.engine)
            self._held.hold(self._readers, "reader", reader)
        try:
            return use(reader)
        except Exception:
            self._readers.reader = None
            reader.close()
            raise

    def _shared_burst(self, opens: SharedOpenTracker, send_id: int, score: int) -> bool:
        """`is_burst` of the store's memory on this thread's held connection."""
        conn: Connection | None = self._held.current(self._readers, "conn")
        if conn is None:
            conn = read_only(self.store.engine.connect())
            self._held.hold(self._readers, "conn", conn)
        try:
            with conn.begin():
                return opens.is_burst_in(conn, send_id, score)
        except Exception:
            self._readers.conn = None
            conn.invalidate()
            conn.close()
            raise

    def close(self) -> None:
        """Close every held connection and the reading threads (idempotent)."""
        self._closer()

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store read: inline on SQLite, on a reading thread on PostgreSQL."""
        if self._read_threads is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_threads, partial(fn, *args, **kwargs))

    async def opened(self, send_id: int, score: int) -> bool:
        """Note that a score link was fetched; whether it is part of a scanner's burst."""
        if isinstance(self.opens, OpenTracker):  # memory: no I/O, a lock held for µs
            return self.opens.opened_in_burst(send_id, score)
        if isinstance(self.opens, SharedOpenTracker):
            await self.writer.run_together(LINK_OPENS_TOGETHER, self.opens.opening(send_id, score),
                                           durable=False)
            return await self.read(self._shared_burst, self.opens, send_id, score)
        await self.read(self.opens.opened, send_id, score)
        return await self.read(self.opens.is_burst, send_id, score)

    async def is_burst(self, send_id: int, score: int) -> bool:
        if isinstance(self.opens, OpenTracker):
            return self.opens.is_burst(send_id, score)
        if isinstance(self.opens, SharedOpenTracker):
            return await self.read(self._shared_burst, self.opens, send_id, score)
        return await self.read(self.opens.is_burst, send_id, score)

    async def record(self, send_id: int, score: int, category: str) -> ResponseRecord:
        """Store the score (a later click updates it) and queue its write-back; returns once
        committed. Raises UnknownSend, or the COMMIT's error (then nothing was stored)."""
        answer = Answer(send_id, score, category, self.clock())
        return await self.writer.run_together(ANSWERS, answer)


class _SendReader:
    """`Store.get_send` on one held driver connection, in autocommit: one SELECT is its own
    transaction (under SQLite's WAL it never waits for a writer)."""

    def __init__(self, engine: Engine) -> None:
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        try:
            self._fairy = engine.raw_connection()
        except self._dbapi_error as exc:  # raw_connection() does not wrap it, connect() does
            raise DBAPIError.instance(None, None, exc, self._dbapi_error) from exc
        # Closed with the reader, however it goes: close(), or the app's AnswerPath (and its
        # thread-locals) garbage-collected without one (a driver connection left open
        # warns, and holds a PostgreSQL backend until the process ends).
        self._closer = weakref.finalize(self, _close_quietly, self._fairy)
        driver = self._fairy.driver_connection
        if engine.dialect.name == "postgresql" and driver is not None:
            driver.autocommit = True  # psycopg; this connection never goes back to the pool
            # Its only writes are score links opened (store/score_reads.py): notes that may
            # be lost, not answers; they need not wait for the disk.
            driver.execute("SET synchronous_commit TO off")
        compiled = SEND_BY_ID.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = compiled.positional
        self._rows = SendRows(engine)

    def get(self, send_id: int) -> SendRecord | None:
        driver = self._driver()
        params: Any = (send_id,) if self._positional else {"send_id": send_id}
        try:
            row = driver.execute(self._sql, params).fetchone()
        except self._dbapi_error as exc:  # as SQLAlchemy would raise it (the 503 page)
            raise DBAPIError.instance(self._sql, params, exc, self._dbapi_error) from exc
        if row is None:
            return None
        return self._record(row)

    def _driver(self) -> Any:
        """The driver's connection; closed under a request by a `Store.dispose()` in
        between: the database error a closed connection gives (the 503 page)."""
        driver = self._fairy.driver_connection
        if driver is None:
            error = self._dbapi_error("connection closed by Store.dispose()")
            raise DBAPIError.instance(None, None, error, self._dbapi_error)
        return driver

    def _record(self, row: Any) -> SendRecord:
        return self._rows.record(row)

    def close(self) -> None:
        self._closer()


class _Held:
    """The connections a path holds: the writer's and the async readers' (kept: they open
    again by themselves after a close) and the reading threads' (dropped at each close; a
    thread-local slot filled before the last close is stale, and its thread opens anew)."""

    def __init__(self, *kept: Any) -> None:
        self._kept = list(kept)
        self._items: list[Any] = []
        self._generation = 0
        self._lock = threading.Lock()

    def keep(self, item: Any) -> None:
        with self._lock:
            self._kept.append(item)

    def current(self, slots: threading.local, name: str) -> Any:
        """The thread's item in `slots.<name>`, None if none or closed since."""
        held = getattr(slots, name, None)
        if held is None or held[1] != self._generation:
            return None
        return held[0]

    def hold(self, slots: threading.local, name: str, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            setattr(slots, name, (item, self._generation))

    def close(self) -> None:
        """Close everything held now (idempotent; the path stays usable)."""
        with self._lock:
            items, self._items = [*self._kept, *self._items], []
            self._generation += 1
        for item in items:
            with contextlib.suppress(Exception):
                item.close()


def _close_held(held: _Held, threads: ThreadPoolExecutor | None) -> None:
    held.close()
    if threads is not None:
        threads.shutdown(wait=False)


def _close_quietly(fairy: Any) -> None:
    """Close a reader's driver connection (never back to the pool); a broken one may fail."""
    with contextlib.suppress(Exception):
        fairy.invalidate()
        fairy.close()
