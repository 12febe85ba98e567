"""Intake of CRM change notifications: notified tickets become outbox rows like polled ones.

The inbound endpoint (daemon/web/hooks) only stores the ticket ids a CRM named; this job
claims them, reads them from the CRM in batches (HubSpot tickets batch read, Zendesk
show_many: 100 a call, the same properties and sideloads as the poll) and hands the closed
ones to the poll's own code (`jobs.poll.new_sends` and its queueing), so eligibility, skips
and the outbox's idempotency key are one path. A ticket the safety-net poll also reads is
queued once: the key is the same. A failed read leaves the claim to back off (store).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from closedloop.daemon.insight.capture import NO_SEGMENTS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.jobs.poll import PollResult, new_sends, queue_rows, ticket_programs
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program
from closedloop.integration.base import CRMAdapter, NotifiedTicketReader
from closedloop.integration.errors import ClosedLoopError

BATCH = 500  # tickets claimed per round (read 100 a call)
LEASE = timedelta(minutes=5)


@dataclass
class IntakeResult:
    """What one intake run did for one source."""

    notified: int = 0  # tickets claimed
    closed: int = 0  # of them, closed now (the others: reopened, deleted, not closed yet)
    queued: int = 0
    failed: int = 0  # tickets whose read failed (retried later)
    poll: PollResult = field(default_factory=PollResult)


def intake_source(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
                  now: datetime, reporting: ReportingSettings = NO_SEGMENTS,
                  limit: int | None = None) -> IntakeResult:
    """Read the tickets notified for one source and queue their surveys; no-op when none.
    `limit`: read at most that many, the longest-waiting first (None: all)."""
    result = IntakeResult()
    if not callable(getattr(adapter, "closed_tickets_by_id", None)):
        return result  # an adapter without it (a test double) is never read by the intake
    reader = cast(NotifiedTicketReader, adapter)
    log = get_logger(job="intake", source=adapter.name)
    mine = ticket_programs(programs, adapter.name)
    while (want := BATCH if limit is None else min(BATCH, limit - result.notified)) > 0:
        claim = store.claim_notified(adapter.name, now, want, LEASE)
        if not claim.ticket_ids:
            break
        result.notified += len(claim.ticket_ids)
        try:
            tickets = reader.closed_tickets_by_id(claim.ticket_ids)
            queue_rows(store, new_sends(store, adapter, mine, tickets, now, reporting),
                       result.poll)
        except ClosedLoopError as exc:
            # Back off these rows, then let the source guard see the failure (health, pause).
            result.failed += store.retry_notified(claim.token, now, type(exc).__name__)
            log.warning("intake.retry", tickets=len(claim.ticket_ids), error=type(exc).__name__)
            raise
        store.settle_notified(claim.token)
        result.closed += len(tickets)
        if len(claim.ticket_ids) < want:
            break
    result.queued = result.poll.queued
    if result.notified:
        log.info("intake.done", notified=result.notified, closed=result.closed,
                 queued=result.queued, skipped=sum(result.poll.skipped.values()),
                 failed=result.failed)
    return result


class Coalescer:
    """Runs `job` once, `window` after the first kick of a burst: notifications that arrive
    together (a bulk close, HubSpot's batches) make one intake run, not one each."""

    def __init__(self, job: Callable[[], object], window: timedelta) -> None:
        self._job = job
        self._window = window.total_seconds()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def kick(self, _source: str = "") -> None:
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self._window, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self._job()
        except Exception:  # the scheduled intake tries again; never kill the timer thread
            get_logger(job="intake").exception("intake.crashed")

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
