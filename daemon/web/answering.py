"""The store side of the score pages (GET landing, POST record), without a thread per request.

At 16 connections a thread per request queued on SQLite's write lock (p99 1.9 s), and the hop
to the thread pool cost more than the lookup itself. So:

- reads run on the event loop on SQLite (in WAL mode a reader never waits for a writer, and a
  lookup by primary key takes about a tenth of a millisecond) and on a worker thread on
  PostgreSQL (a round trip over the network must not stall every other request);
- writes (the answer; on PostgreSQL also the score link opened, which replicas share) go to
  the group commit (store/group_commit.py): one durable transaction for the requests of the
  moment, each request answered only once that transaction is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from closedloop.daemon.store import ResponseRecord, SendRecord, Store
from closedloop.daemon.store.answer_batch import Answer, record_responses_in
from closedloop.daemon.store.answers import record_response_in
from closedloop.daemon.store.group_commit import GroupCommit, Together
from closedloop.daemon.store.records import send_record
from closedloop.daemon.store.sends import SEND_BY_ID, SENDS
from closedloop.daemon.web.scanner import LinkOpens, OpenTracker, SharedOpenTracker

P = ParamSpec("P")
# Answers of one batch are written set-wise (store/answer_batch.py), one by one on error.
ANSWERS: Together[Answer, ResponseRecord] = Together(
    many=record_responses_in,
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
        self._reader: _SendReader | None = None  # SQLite: the event loop's own connection

    def get_send(self, send_id: int) -> SendRecord | None:
        """The send behind a token. On SQLite inline, through the driver connection this
        loop holds and the store's own query compiled once, its columns converted by the
        columns' own result processors: SQLAlchemy's execution around a lookup by primary
        key cost ten times the lookup, and this runs on every score page."""
        if not self.inline:
            return self.store.get_send(send_id)
        if self._reader is None:
            self._reader = _SendReader(self.store.engine)
        try:
            return self._reader.get(send_id)
        except Exception:
            self._reader.close()
            self._reader = None
            raise

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store read: inline on SQLite, on a worker thread on PostgreSQL."""
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    async def opened(self, send_id: int, score: int) -> bool:
        """Note that a score link was fetched; whether it is part of a scanner's burst."""
        if isinstance(self.opens, OpenTracker):  # memory: no I/O, a lock held for µs
            self.opens.opened(send_id, score)
            return self.opens.is_burst(send_id, score)
        if isinstance(self.opens, SharedOpenTracker):
            await self.writer.run(self.opens.opening(send_id, score))
        else:
            await self.read(self.opens.opened, send_id, score)
        return await self.read(self.opens.is_burst, send_id, score)

    async def is_burst(self, send_id: int, score: int) -> bool:
        if isinstance(self.opens, OpenTracker):
            return self.opens.is_burst(send_id, score)
        return await self.read(self.opens.is_burst, send_id, score)

    async def record(self, send_id: int, score: int, category: str) -> ResponseRecord:
        """Store the score (a later click updates it) and queue its write-back; returns once
        committed. Raises UnknownSend, or the COMMIT's error (then nothing was stored)."""
        answer = Answer(send_id, score, category, self.clock())
        return await self.writer.run_together(ANSWERS, answer)


class _SendReader:
    """`Store.get_send` on one held SQLite driver connection (autocommit: one SELECT is its
    own transaction, and under WAL it never waits for a writer)."""

    def __init__(self, engine: Engine) -> None:
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        try:
            self._fairy = engine.raw_connection()
        except self._dbapi_error as exc:  # raw_connection() does not wrap it, connect() does
            raise DBAPIError.instance(None, None, exc, self._dbapi_error) from exc
        self._sql = str(SEND_BY_ID.compile(dialect=engine.dialect))
        columns = list(SENDS.c)
        self._names = [c.name for c in columns]
        self._convert = [c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
                         for c in columns]

    def get(self, send_id: int) -> SendRecord | None:
        driver = self._fairy.driver_connection
        assert driver is not None
        try:
            row = driver.execute(self._sql, (send_id,)).fetchone()
        except self._dbapi_error as exc:  # as SQLAlchemy would raise it (the 503 page)
            raise DBAPIError.instance(self._sql, (send_id,), exc, self._dbapi_error) from exc
        if row is None:
            return None
        values = {name: value if convert is None or value is None else convert(value)
                  for name, convert, value in zip(self._names, self._convert, row, strict=True)}
        return send_record(values)

    def close(self) -> None:
        self._fairy.invalidate()
        self._fairy.close()
