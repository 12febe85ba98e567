"""Write-back job: pending facts become contact properties and ticket hooks, in batches.

Contact rows (answers, sent dates, preferences, forgets) are coalesced per contact, so one
contact costs one input of one batch call however many rows wait for it. "Latest answer
wins" per contact and property prefix: a late click or comment on an older survey is
stored, but does not overwrite a newer survey's answer of the same prefix on the record,
and two NPS programs with their own prefixes keep separate values. Hook rows (tags, a
note and the mapping's ticket properties on the ticket a survey was about) are merged per
ticket and written after the contacts, with the same retry, defer and reject handling.
Before its first hook write, each answer's ticket is read once (100 tickets per call) for
who holds it now: the attribution at rating time, stored beside the one at close.

Each call gets at most the adapter's `write_batch_size` updates (HubSpot: one batch call;
Zendesk: 30 update_many jobs followed together). A call the CRM refuses whole wrote
nothing, so it is halved until the bad record stands alone; a call that ended part way
(PartialWrite) settles its written and refused rows at once and defers only the pending
ones, so a retry never adds a ticket note that already landed.

Replicas: each round works on rows it claimed (Store.claim_writebacks: every due row of a
contact, under a token and a lease), so two daemons never write the same rows, and a
contact's rows are written by one daemon at a time, in order. The lease is renewed before
each CRM call; a writer that lost any of its rows (it stalled past the lease and another
daemon took them) stops before writing, and settles nothing it does not hold. Hook rows
carry their ids as a marker (`TicketUpdate.key`), so an adapter can find a note whose
create answer was lost instead of adding it again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from closedloop.daemon.backoff import doubling
from closedloop.daemon.jobs.attribution import attribute_answers
from closedloop.daemon.jobs.erasure import plan_erasures
from closedloop.daemon.jobs.held import Held, LostClaim
from closedloop.daemon.jobs.writeback_plan import coalesce, plan_hooks, winners
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store, WriteBackRecord
from closedloop.integration.base import (
    ContactUpdate,
    CRMAdapter,
    Erasure,
    TicketUpdate,
    WriteResult,
)
from closedloop.integration.errors import (
    AuthError,
    PartialWrite,
    RateLimited,
    RecordRejected,
    TransientError,
)
from closedloop.mappings import CrmMapping

ROWS_PER_ROUND = 2000
MAX_ROUNDS = 50
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# A claim outlives the slowest CRM call (retries and their waits included) it is renewed
# before; a daemon killed mid-round holds its contacts this long.
LEASE = timedelta(minutes=5)

U = TypeVar("U", ContactUpdate, TicketUpdate, Erasure)


@dataclass
class WriteBackResult:
    contacts: int = 0
    rows: int = 0
    rejected: int = 0
    deferred: int = 0
    tickets: int = 0
    attributed: int = 0
    erased: int = 0


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff for rows that could not be written, capped at an hour."""
    return doubling(attempts + 1, RETRY_BASE, RETRY_CAP)


def write_back(store: Store, adapter: CRMAdapter, mapping: CrmMapping,
               now: datetime, lease: timedelta = LEASE,
               skip_kinds: Sequence[str] = ()) -> WriteBackResult:
    """Write every pending row of one source (but `skip_kinds`); rows that fail wait and
    are tried again.

    Each round claims its rows first, so replicas sharing the store write disjoint
    contacts; whatever a round leaves unsettled is handed back when it ends (as possibly
    written when the round raised: a store error after a note landed must not add it twice).
    """
    log = get_logger(job="writeback", source=adapter.name)
    result = WriteBackResult()
    started = time.monotonic()

    def clock() -> datetime:  # the run's clock, moved on by the work's elapsed time
        return now + timedelta(seconds=time.monotonic() - started)

    try:
        for _ in range(MAX_ROUNDS):
            claim = store.claim_writebacks(adapter.name, clock(), ROWS_PER_ROUND, lease,
                                           skip_kinds)
            if not claim.rows:
                break
            held = Held(store, claim, lease, clock)
            ended = False  # the round ended as planned (False: it raised, maybe mid-write)
            try:
                finished = _write_round(held, adapter, mapping, claim.rows, now, result)
                ended = True
            except LostClaim:
                log.warning("writeback.claim_lost", rows=len(claim.rows))
                finished, ended = False, True
            finally:
                store.release_writeback_claim(claim.token, lapsed=not ended)
            if not finished or not claim.more:
                break
    finally:
        log.info("writeback.done", contacts=result.contacts, tickets=result.tickets,
                 attributed=result.attributed, erased=result.erased, rows=result.rows,
                 rejected=result.rejected,
                 deferred=result.deferred)
    return result


def _write_round(store: Held, adapter: CRMAdapter, mapping: CrmMapping,
                 rows: list[WriteBackRecord], now: datetime, result: WriteBackResult) -> bool:
    """One round, contacts then tickets; False when the source should be left alone."""
    hook_rows = [r for r in rows if r.kind == "hook"]
    erase_rows = [r for r in rows if r.kind == "erase"]
    contact_rows = [r for r in rows if r.kind not in ("hook", "erase")]
    if contact_rows and not _contacts_round(store, adapter, mapping, contact_rows, now,
                                            result):
        return False
    if hook_rows and not _hooks_round(store, adapter, mapping, hook_rows, now, result):
        return False
    return not erase_rows or _erase_round(store, adapter, mapping, erase_rows, now, result)


def _erase_round(store: Held, adapter: CRMAdapter, mapping: CrmMapping,
                 rows: list[WriteBackRecord], now: datetime, result: WriteBackResult) -> bool:
    """`forget`'s CRM side beyond contacts: hook notes, ticket properties, follow-up text.
    After the hooks, so a note written this very round is erased with the others."""
    sends = [r.send_id for r in rows if r.send_id is not None]
    items = plan_erasures(rows, mapping, store.follow_up_crm_ids(sends) if sends else {})
    counted, finished = _send_all(store, adapter.erase_quotes, items, lambda e: e.key,
                                  {e.key: [int(e.key)] for e in items}, {}, rows, now, result,
                                  adapter.write_batch_size)
    result.erased += counted
    return finished


def _contacts_round(store: Held, adapter: CRMAdapter, mapping: CrmMapping,
                    rows: list[WriteBackRecord], now: datetime,
                    result: WriteBackResult) -> bool:
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        rows_of[row.contact_id].append(row.id)
    latest = winners(store.latest_answered_sends(adapter.name, list(rows_of)), mapping)
    plan = coalesce(rows, mapping, latest)
    _reject_planned(store, plan.rejected, result)
    nothing = [i for c, ids in rows_of.items() if c not in plan.properties for i in ids
               if i not in plan.rejected]
    store.mark_writebacks_done(nothing, now)  # superseded, or nothing mapped for them
    updates = [ContactUpdate(contact_id=c, properties=p) for c, p in plan.properties.items()]
    counted, finished = _send_all(store, adapter.write_contacts, updates,
                                  lambda u: u.contact_id, rows_of, plan.rejected, rows, now,
                                  result, adapter.write_batch_size)
    result.contacts += counted
    return finished


def _hooks_round(store: Held, adapter: CRMAdapter, mapping: CrmMapping,
                 rows: list[WriteBackRecord], now: datetime, result: WriteBackResult) -> bool:
    try:
        result.attributed += attribute_answers(store, adapter, rows, now)
    except (TransientError, AuthError) as exc:  # read before the hook lands: retry both
        _defer(store, [r.id for r in rows], rows, now, exc, result)
        if isinstance(exc, AuthError):
            raise
        return False
    plan = plan_hooks(rows, mapping)
    if plan.waiting:  # not written this round: never lapsed with it if it dies
        store.hand_back(plan.waiting)
    _reject_planned(store, plan.rejected, result)
    store.mark_writebacks_done(plan.nothing, now)
    counted, finished = _send_all(store, adapter.update_tickets, plan.updates,
                                  lambda u: u.ticket_id, plan.rows_of, plan.rejected, rows,
                                  now, result, adapter.write_batch_size)
    result.tickets += counted
    return finished


def _reject_planned(store: Held, rejected: dict[int, str], result: WriteBackResult) -> None:
    for row_id, reason in rejected.items():
        store.reject_writebacks([row_id], reason)
    result.rejected += len(rejected)


@dataclass
class _Batches:
    """How one round's updates of one kind map to rows, and which rows are settled."""

    key: Callable[[Any], str]  # the update's record id
    rows_of: dict[str, list[int]]  # record id -> row ids
    skip: dict[int, str]  # rows already rejected by the plan
    settled: set[int] = field(default_factory=set)  # rows marked done or rejected this round
    written: int = 0  # records written this round

    def ids(self, record: str) -> list[int]:
        return [i for i in self.rows_of.get(record, []) if i not in self.skip]


def _send_all(store: Held, write: Callable[[list[U]], WriteResult], updates: list[U],
              key: Callable[[U], str], rows_of: dict[str, list[int]], skip: dict[int, str],
              rows: list[WriteBackRecord], now: datetime, result: WriteBackResult,
              size: int) -> tuple[int, bool]:
    """Write updates `size` per call; returns how many records were written and False when
    the rest was deferred (rows already settled, e.g. by a PartialWrite, are not)."""
    batches = _Batches(key, rows_of, skip)
    size = max(1, size)
    for start in range(0, len(updates), size):
        try:
            _write_batch(store, write, updates[start:start + size], batches, now, result)
        except (TransientError, AuthError) as exc:  # RateLimited and PartialWrite included
            ids = [i for u in updates[start:] for i in batches.ids(key(u))
                   if i not in batches.settled]
            _defer(store, ids, rows, now, exc, result)
            if isinstance(exc, AuthError):
                raise  # the runtime pauses the source and reports it
            return batches.written, False
    return batches.written, True


def _write_batch(store: Held, write: Callable[[list[U]], WriteResult], batch: list[U],
                 batches: _Batches, now: datetime, result: WriteBackResult) -> None:
    """Write one batch; a batch the CRM refuses whole is halved until the bad record shows.

    A refused call wrote nothing (the protocol's promise within `write_batch_size`), so the
    halves re-send only rows that are not in the CRM yet; rows of a half that was written
    are never sent again in this round.
    """
    store.keep()  # never write what another writer may hold by now
    try:
        outcome = write(batch)
    except PartialWrite as exc:
        _settle(store, WriteResult(written=exc.written, rejected=exc.rejected), batches, now,
                result)
        get_logger(job="writeback").warning("writeback.partial", written=len(exc.written),
                                            rejected=len(exc.rejected),
                                            pending=len(exc.pending))
        raise
    except RecordRejected as exc:
        if len(batch) > 1:
            half = len(batch) // 2
            _write_batch(store, write, batch[:half], batches, now, result)
            _write_batch(store, write, batch[half:], batches, now, result)
            return
        record = batches.key(batch[0])
        _settle(store, WriteResult(rejected={record: f"refused by the CRM: {exc}"}), batches,
                now, result)
        get_logger(job="writeback").warning("writeback.rejected", error=str(exc))
        return
    _settle(store, outcome, batches, now, result)


def _settle(store: Held, outcome: WriteResult, batches: _Batches, now: datetime,
            result: WriteBackResult) -> None:
    """Mark the written records' rows done and the refused ones' rejected."""
    done = [i for record in outcome.written for i in batches.ids(record)]
    marked = store.mark_writebacks_done(done, now)
    batches.settled.update(done)
    for record, reason in outcome.rejected.items():
        refused = batches.ids(record)
        store.reject_writebacks(refused, reason)
        batches.settled.update(refused)
        result.rejected += len(refused)
    result.rows += marked
    batches.written += len(outcome.written)


def _defer(store: Held, ids: list[int], rows: list[WriteBackRecord], now: datetime,
           exc: Exception, result: WriteBackResult) -> None:
    """Put the unwritten rows back with a retry time: nothing is lost, the CRM gets a rest."""
    wait = exc.retry_after if isinstance(exc, RateLimited | PartialWrite) else None
    waiting = set(ids)
    attempts = max((r.attempts for r in rows if r.id in waiting), default=0)
    later = now + (timedelta(seconds=wait) if wait else retry_delay(attempts))
    store.retry_writebacks_later(ids, f"{type(exc).__name__}: {exc}", later)
    result.deferred += len(ids)
    get_logger(job="writeback").warning("writeback.deferred", rows=len(ids),
                                        error=type(exc).__name__, retry_at=later.isoformat())
