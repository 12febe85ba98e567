"""Outbound webhook calls of the sandboxes: what HubSpot's webhook subscriptions and Zendesk's
trigger webhooks POST when a ticket changes.

A change enqueues an event; a background thread sends the queue in batches (HubSpot packs
up to 100 events in one request, Zendesk sends one call per event), each request signed
the vendor's way by the sandbox's `sign` function, so the daemon's checks meet the real
algorithm. Tests can drop the next N calls (a lost notification), wait for the queue to
drain (`flush`), and read what was delivered and how it was answered.
"""

from __future__ import annotations

import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Build = Callable[[list[Any]], tuple[bytes, dict[str, str]]]  # events -> (body, headers)


@dataclass
class Delivery:
    """One request sent (or dropped): its target, the events in it and the answer's status."""

    url: str
    events: list[Any]
    status: int | None  # None: dropped on purpose, or the receiver could not be reached


@dataclass
class Notifier:
    """Queue, batch, sign and POST events; `batch` is the most events one request carries.

    `workers` requests may be in flight at once (HubSpot allows an app up to 10 concurrent
    webhook requests; Zendesk sends its webhooks concurrently too); one keeps them in order.
    `hold` keeps the queue until `flush`, so the events of one burst go out together, in
    full batches (a benchmark's compressed clock would otherwise send a batch per event).
    """

    batch: int = 100
    timeout: float = 10.0
    workers: int = 1
    hold: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.Queue[tuple[str, Build, Any]] = field(default_factory=queue.Queue)
    _drop: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _taking: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _pending: int = 0  # events queued or being delivered
    _idle: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def send(self, url: str, build: Build, event: Any) -> None:
        """Queue one event for `url`; `build` makes the signed request of a batch."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook target must be an http(s) URL, not {url!r}")
        with self._lock:
            self._idle.clear()
            self._pending += 1
            self._queue.put((url, build, event))
            if not self.hold:
                self._start()

    def _start(self) -> None:
        """Start delivery threads up to `workers` (under the lock)."""
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < min(self.workers, max(self._queue.qsize(), 1)):
            thread = threading.Thread(target=self._run, name="sandbox-notify", daemon=True)
            self._threads.append(thread)
            thread.start()

    def drop_next(self, n: int) -> None:
        """Lose the next `n` requests (as a network or vendor outage would)."""
        with self._lock:
            self._drop += n

    def flush(self, timeout: float = 10.0) -> bool:
        """Send what is held, then wait until every queued event was sent or dropped; False
        on timeout."""
        with self._lock:
            if self._pending:
                self._start()
        return self._idle.wait(timeout)

    def sent(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def _run(self) -> None:
        while True:
            group, strays = self._take()
            if not group:
                with self._lock:
                    if self._queue.empty():
                        self._threads = [t for t in self._threads
                                         if t is not threading.current_thread()]
                        return
                continue
            for item in strays:
                self._done(self._deliver([item]))
            self._done(self._deliver(group))

    def _take(self) -> tuple[list[tuple[str, Build, Any]], list[tuple[str, Build, Any]]]:
        """The next batch (events for one target, up to `batch`) and any events for other
        targets met on the way; one worker fills its batch at a time, so batches stay full."""
        with self._taking:
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                return [], []
            group, strays = [first], []
            while len(group) < self.batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item[0] != first[0] or item[1] is not first[1]:
                    strays.append(item)
                    continue
                group.append(item)
            return group, strays

    def _done(self, events: int) -> None:
        with self._lock:
            self._pending -= events
            if self._pending == 0:
                self._idle.set()

    def _deliver(self, group: list[tuple[str, Build, Any]]) -> int:
        """POST one batch (or drop it); how many events it carried."""
        url, build = group[0][0], group[0][1]
        events = [event for _, _, event in group]
        with self._lock:
            dropped = self._drop > 0
            if dropped:
                self._drop -= 1
        status: int | None = None
        if not dropped:
            body, headers = build(events)
            request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in send()
                url, data=body, method="POST",
                headers={"Content-Type": "application/json", **headers})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                log.warning("sandbox.notify_failed", url=url, error=type(exc).__name__)
        with self._lock:
            self.deliveries.append(Delivery(url, events, status))
        return len(events)
