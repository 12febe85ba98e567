"""Group commit: one writer thread commits the writes of concurrent requests together.

A thread per answer queued on SQLite's write lock (p99 of seconds at 16 connections), and a
durable commit per answer costs one fsync each on either database. Here requests hand their
write to one writer, which runs every write waiting at that moment in one transaction, each
in its own SAVEPOINT, commits once, and only then tells each caller how its write went:

- a write that fails (an unknown send, a constraint) is rolled back to its savepoint alone;
  the others of the batch still commit;
- nobody hears "done" before the COMMIT has returned, and a COMMIT that fails fails every
  write of its batch: no 2xx for an answer that is not on disk, and a crash before the COMMIT
  answers nothing at all;
- durable means on disk, not only in the OS: on SQLite the writer's connection runs
  `synchronous=FULL` (in WAL mode FULL syncs the WAL at each commit; the store's default
  NORMAL may lose the last commits on power loss), on PostgreSQL `synchronous_commit=on`
  for the batch whatever the server's default. One fsync per batch, not per answer. A
  batch of nothing but notes that may be lost (`durable=False`: score links opened) commits
  on PostgreSQL with `synchronous_commit=off`: visible to every replica at once, on disk a
  moment later.

While one batch commits the next one gathers, so batches grow with the load by themselves.
The writer holds one connection of its own (its settings never reach the pool) and stops
after `IDLE_SECONDS` without work; the next write starts it again.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import Connection, Engine

log = structlog.get_logger(__name__)

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
MAX_BATCH = 256
IDLE_SECONDS = 5.0


@dataclass(frozen=True)
class Together(Generic[P, R]):
    """Writes of one kind that can run as one: `many` does a batch's worth at once (each
    item's result or exception, in order), `one` a single item (the fallback when `many`
    fails as a whole: then each item runs alone in its savepoint)."""

    many: Callable[[Connection, list[P]], Sequence[R | Exception]]
    one: Callable[[Connection, P], R]


@dataclass(frozen=True)
class _Write:
    work: Callable[[Connection], Any]
    future: Future[Any]
    together: Together[Any, Any] | None = None
    item: Any = None
    durable: bool = True


_STOP = _Write(lambda conn: None, Future())  # close()'s mark in the queue


class GroupCommit:
    """Runs `work(conn)` callables for many callers in shared, durable transactions."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Write] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._current: list[_Write] = []
        self._thread: threading.Thread | None = None
        self.batches = 0  # committed batches and writes, for tests and the benchmark
        self.writes = 0

    async def run(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Queue `work` and wait until its batch is committed; its result, or its error
        (or the COMMIT's, when the whole batch failed)."""
        result: T = await asyncio.wrap_future(self.submit(work, durable=durable))
        return result

    def run_sync(self, work: Callable[[Connection], T]) -> T:
        """The same for a caller on a thread."""
        result: T = self.submit(work).result()
        return result

    async def run_together(self, kind: Together[P, R], item: P, *, durable: bool = True) -> R:
        """Queue `item`, to be written with the others of its kind in the batch."""
        future: Future[R] = self._put(_Write(lambda conn: kind.one(conn, item), Future(),
                                             kind, item, durable))
        result: R = await asyncio.wrap_future(future)
        return result

    def submit(self, work: Callable[[Connection], T], *, durable: bool = True) -> Future[T]:
        """Queue `work`. `durable=False` (a note that may be lost, such as a link opened)
        lets a batch of such writes commit on PostgreSQL without waiting for the disk;
        a batch with any durable write waits, whatever else it holds."""
        return self._put(_Write(work, Future(), durable=durable))

    def _put(self, write: _Write) -> Future[Any]:
        future = write.future
        with self._lock:
            self._queue.put(write)
            if not self._running:
                self._running = True
                self._thread = threading.Thread(target=self._serve, name="group-commit",
                                                daemon=True)
                self._thread.start()
        return future

    def close(self, timeout: float = 5.0) -> None:
        """End the writer thread now rather than after `idle_seconds`, its connection closed
        (Store.dispose(): a backend left open meanwhile outlived the store), once the writes
        queued before have committed; waits up to `timeout` for it. A later write starts a
        new thread."""
        with self._lock:
            thread = self._thread if self._running else None
            if thread is None:
                return
            self._queue.put(_STOP)
        if thread is not threading.current_thread():
            thread.join(timeout)

    # -- the writer thread -----------------------------------------------------------------

    def _serve(self) -> None:
        conn: Connection | None = None
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                if conn is None:
                    try:
                        conn = self._connect()
                    except Exception as exc:  # the database is down: this batch fails
                        self._fail(batch, exc)
                        continue
                if not self._commit(conn, batch):
                    _discard(conn)  # a failed COMMIT may have left it unusable
                    conn = None
        except BaseException as exc:  # the thread must never die with callers waiting
            log.error("store.group_commit_stopped", error=type(exc).__name__)
            with self._lock:
                self._running = False
            self._fail_waiting([*self._current], exc)
            raise
        finally:
            if conn is not None:
                _discard(conn)

    def _next_batch(self) -> list[_Write] | None:
        """The writes waiting now (at least one), or None once idle (the thread then ends)."""
        while True:
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                first = _STOP
            if first is not _STOP:
                break
            with self._lock:  # idle, or close(): end unless a write came meanwhile
                if self._queue.empty():
                    self._running = False
                    return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                break
            if write is _STOP:  # close() behind this batch: ends after it
                self._queue.put(_STOP)
                break
            batch.append(write)
        self._current = [w for w in batch if w.future.set_running_or_notify_cancel()]
        return self._current

    def _connect(self) -> Connection:
        conn = self.engine.connect()
        if conn.dialect.name == "sqlite":  # on the driver's connection: no BEGIN around it
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA synchronous=FULL")
        return conn

    def _commit(self, conn: Connection, batch: list[_Write]) -> bool:
        """One transaction for the batch; settle every future after it. False if it failed."""
        outcomes: list[tuple[_Write, bool, Any]] = []
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    durable = any(w.durable for w in batch)
                    conn.exec_driver_sql(
                        f"SET LOCAL synchronous_commit TO {'on' if durable else 'off'}")
                alone = [w for w in batch if w.together is None]
                groups: dict[int, list[_Write]] = {}
                for write in batch:
                    if write.together is not None:
                        groups.setdefault(id(write.together), []).append(write)
                for group in groups.values():
                    alone += self._together(conn, group, outcomes)
                for write in alone:
                    try:
                        with conn.begin_nested():
                            outcomes.append((write, True, write.work(conn)))
                    except Exception as exc:  # handed to its caller
                        outcomes.append((write, False, exc))
        except Exception as exc:  # BEGIN or COMMIT failed: nothing stored
            self._fail(batch, exc)
            return False
        self.batches += 1
        self.writes += len(batch)
        for write, ok, value in outcomes:
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(value)
        return True

    @staticmethod
    def _together(conn: Connection, group: list[_Write],
                  outcomes: list[tuple[_Write, bool, Any]]) -> list[_Write]:
        """Run a group of one kind as one; the writes to run alone if that failed."""
        kind = group[0].together
        assert kind is not None
        try:
            with conn.begin_nested():
                results = kind.many(conn, [w.item for w in group])
        except Exception as exc:  # one bad item spoils the lot: each runs alone instead
            log.warning("store.group_commit_split", writes=len(group), error=type(exc).__name__)
            return group
        for write, result in zip(group, results, strict=True):
            outcomes.append((write, not isinstance(result, Exception), result))
        return []

    def _fail(self, batch: list[_Write], exc: Exception) -> None:
        log.error("store.group_commit_failed", writes=len(batch), error=type(exc).__name__)
        for write in batch:
            write.future.set_exception(exc)

    def _fail_waiting(self, running: list[_Write], exc: BaseException) -> None:
        error = RuntimeError(f"group commit writer stopped: {type(exc).__name__}")
        for write in running:
            if not write.future.done():
                write.future.set_exception(error)
        while True:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                return
            if write is not _STOP and write.future.set_running_or_notify_cancel():
                write.future.set_exception(error)


def _discard(conn: Connection) -> None:
    """Close the writer's connection without handing its settings to the pool."""
    try:
        conn.invalidate()
    finally:
        conn.close()
