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

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from closedloop.daemon.store import ResponseRecord, SendRecord, Store
from closedloop.daemon.store.answers import record_response_in
from closedloop.daemon.store.engine import read_only
from closedloop.daemon.store.group_commit import GroupCommit
from closedloop.daemon.store.sends import send_in
from closedloop.daemon.web.scanner import LinkOpens, OpenTracker, SharedOpenTracker

P = ParamSpec("P")
T = TypeVar("T")


class AnswerPath:
    """Reads, link openings and answers for the score pages of one app."""

    def __init__(self, store: Store, opens: LinkOpens, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.opens = opens
        self.clock = clock
        self.writer = GroupCommit(store.engine)
        self.inline = store.engine.dialect.name == "sqlite"
        self._reader: Connection | None = None  # SQLite: the event loop's own connection

    def get_send(self, send_id: int) -> SendRecord | None:
        """The send behind a token. Inline on SQLite through one held connection (the event
        loop's thread is the only one using it): a pool checkout and return cost three
        times the lookup."""
        if not self.inline:
            return self.store.get_send(send_id)
        if self._reader is None:
            self._reader = read_only(self.store.engine.connect())
        try:
            with self._reader.begin():
                return send_in(self._reader, send_id)
        except Exception:
            self._reader.invalidate()
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
        now = self.clock()
        return await self.writer.run(
            lambda conn: record_response_in(conn, send_id, score, category, now))
