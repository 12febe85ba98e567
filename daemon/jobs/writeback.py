"""Write-back job: pending answers and send dates become contact properties, in batches.

Rows are coalesced per contact, so one contact costs one input of one batch call however
many rows wait for it. "Latest answer wins" means the survey answered last: a late click or
comment on an older survey is stored, but does not overwrite a newer survey's answer on the
contact record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from daemon.logging import get_logger
from daemon.store import Store, WriteBackRecord
from integration.base import ContactUpdate, CRMAdapter
from integration.errors import AuthError, RateLimited, RecordRejected, TransientError
from mappings import CrmMapping

ROWS_PER_ROUND = 2000
MAX_ROUNDS = 50
BATCH = 100  # the CRM's batch size; the job splits a refused batch to find the bad record
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)


@dataclass
class WriteBackResult:
    contacts: int = 0
    rows: int = 0
    rejected: int = 0
    deferred: int = 0


@dataclass
class Coalesced:
    """What one round writes: properties per contact, and rows that cannot be written."""

    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)  # row id -> reason


def coalesce(rows: Sequence[WriteBackRecord], mapping: CrmMapping,
             latest: dict[tuple[str, str], int]) -> Coalesced:
    """Contact id → properties, in the order the rows were recorded.

    `latest` maps (contact, survey type) to the send answered last; answers to other sends
    of that type are superseded and write nothing. Answers never write the sent date: only
    the 'sent' rows, recorded in send order, do.
    """
    out = Coalesced()
    merged: dict[str, dict[str, str]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (r.contact_id, r.created_at, r.id)):
        data: dict[str, Any] = dict(row.data)
        if row.kind == "answer":
            if latest.get((row.contact_id, str(data.get("survey_type")))) != row.send_id:
                continue
            data.pop("sent_at", None)
        try:
            merged[row.contact_id].update(mapping.render(data))
        except ValueError as exc:
            out.rejected[row.id] = f"mapping cannot render it: {exc}"
    out.properties = {contact: props for contact, props in merged.items() if props}
    return out


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff for rows that could not be written, capped at an hour."""
    return min(RETRY_BASE * (1 << min(attempts, 10)), RETRY_CAP)


def write_back(store: Store, adapter: CRMAdapter, mapping: CrmMapping,
               now: datetime) -> WriteBackResult:
    """Write every pending row of one source; rows that fail wait and are tried again."""
    log = get_logger(job="writeback", source=adapter.name)
    result = WriteBackResult()
    try:
        for _ in range(MAX_ROUNDS):
            rows = store.pending_writebacks(adapter.name, now, ROWS_PER_ROUND)
            if not rows or not _write_round(store, adapter, mapping, rows, now, result):
                break
            if len(rows) < ROWS_PER_ROUND:
                break
    finally:
        log.info("writeback.done", contacts=result.contacts, rows=result.rows,
                 rejected=result.rejected, deferred=result.deferred)
    return result


def _write_round(store: Store, adapter: CRMAdapter, mapping: CrmMapping,
                 rows: list[WriteBackRecord], now: datetime, result: WriteBackResult) -> bool:
    """One coalesced round; False when the source should be left alone until the next run."""
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        rows_of[row.contact_id].append(row.id)
    latest = store.latest_answered_sends(adapter.name, list(rows_of))
    plan = coalesce(rows, mapping, latest)
    for row_id, reason in plan.rejected.items():
        store.reject_writebacks([row_id], reason)
    result.rejected += len(plan.rejected)
    nothing = [i for c, ids in rows_of.items() if c not in plan.properties for i in ids
               if i not in plan.rejected]
    store.mark_writebacks_done(nothing, now)  # superseded, or nothing mapped for them
    updates = [ContactUpdate(contact_id=c, properties=p) for c, p in plan.properties.items()]
    for start in range(0, len(updates), BATCH):
        batch = updates[start:start + BATCH]
        try:
            _write_batch(store, adapter, batch, rows_of, plan.rejected, now, result)
        except (RateLimited, TransientError, AuthError) as exc:
            _defer(store, updates[start:], rows_of, plan.rejected, rows, now, exc, result)
            if isinstance(exc, AuthError):
                raise  # the runtime pauses the source and reports it
            return False
    return True


def _write_batch(store: Store, adapter: CRMAdapter, batch: list[ContactUpdate],
                 rows_of: dict[str, list[int]], skip: dict[int, str], now: datetime,
                 result: WriteBackResult) -> None:
    """Write one batch; a batch the CRM refuses whole is halved until the bad record shows."""
    def ids(contact: str) -> list[int]:
        return [i for i in rows_of[contact] if i not in skip]

    try:
        outcome = adapter.write_contacts(batch)
    except RecordRejected as exc:
        if len(batch) > 1:
            half = len(batch) // 2
            _write_batch(store, adapter, batch[:half], rows_of, skip, now, result)
            _write_batch(store, adapter, batch[half:], rows_of, skip, now, result)
            return
        store.reject_writebacks(ids(batch[0].contact_id), f"refused by the CRM: {exc}")
        result.rejected += len(ids(batch[0].contact_id))
        get_logger(job="writeback").warning("writeback.rejected", error=str(exc))
        return
    done = [i for contact in outcome.written for i in ids(contact)]
    store.mark_writebacks_done(done, now)
    for contact, reason in outcome.rejected.items():
        store.reject_writebacks(ids(contact), reason)
        result.rejected += len(ids(contact))
    result.contacts += len(outcome.written)
    result.rows += len(done)


def _defer(store: Store, pending: list[ContactUpdate], rows_of: dict[str, list[int]],
           skip: dict[int, str], rows: list[WriteBackRecord], now: datetime,
           exc: Exception, result: WriteBackResult) -> None:
    """Put the unwritten rows back with a retry time: nothing is lost, the CRM gets a rest."""
    ids = [i for u in pending for i in rows_of[u.contact_id] if i not in skip]
    wait = exc.retry_after if isinstance(exc, RateLimited) else None
    waiting = set(ids)
    attempts = max((r.attempts for r in rows if r.id in waiting), default=0)
    later = now + (timedelta(seconds=wait) if wait else retry_delay(attempts))
    store.retry_writebacks_later(ids, f"{type(exc).__name__}: {exc}", later)
    result.deferred += len(ids)
    get_logger(job="writeback").warning("writeback.deferred", rows=len(ids),
                                        error=type(exc).__name__, retry_at=later.isoformat())
