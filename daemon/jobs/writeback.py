"""Write-back job: pending answers and send dates become contact properties, in batches.

Rows are coalesced per contact in the order they were recorded, so the latest answer wins
and one contact costs one input of one batch call however many rows wait for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from daemon.logging import get_logger
from daemon.store import Store, WriteBackRecord
from integration.base import ContactUpdate, CRMAdapter
from integration.errors import AuthError, RateLimited, RecordRejected, TransientError
from mappings import CrmMapping

ROWS_PER_ROUND = 2000
MAX_ROUNDS = 50
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)


@dataclass
class WriteBackResult:
    contacts: int = 0
    rows: int = 0
    rejected: int = 0
    deferred: int = 0


def coalesce(rows: list[WriteBackRecord], mapping: CrmMapping) -> dict[str, dict[str, str]]:
    """Contact id → properties, later rows overwriting earlier ones."""
    merged: dict[str, dict[str, str]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (r.contact_id, r.created_at, r.id)):
        merged[row.contact_id].update(mapping.render(row.data))
    return dict(merged)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff for rows that could not be written, capped at an hour."""
    return min(RETRY_BASE * (1 << min(attempts, 10)), RETRY_CAP)


def write_back(store: Store, adapter: CRMAdapter, mapping: CrmMapping,
               now: datetime) -> WriteBackResult:
    """Write every pending row of one source; rows that fail wait and are tried again."""
    log = get_logger(job="writeback", source=adapter.name)
    result = WriteBackResult()
    for _ in range(MAX_ROUNDS):
        rows = store.pending_writebacks(adapter.name, now, ROWS_PER_ROUND)
        if not rows:
            break
        if not _write_round(store, adapter, mapping, rows, now, result, log):
            break
        if len(rows) < ROWS_PER_ROUND:
            break
    log.info("writeback.done", contacts=result.contacts, rows=result.rows,
             rejected=result.rejected, deferred=result.deferred)
    return result


def _write_round(store: Store, adapter: CRMAdapter, mapping: CrmMapping,
                 rows: list[WriteBackRecord], now: datetime, result: WriteBackResult,
                 log: Any) -> bool:
    """One coalesced batch write; False when the source should be left alone for now."""
    by_contact: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_contact[row.contact_id].append(row.id)
    updates = [ContactUpdate(contact_id=c, properties=p)
               for c, p in coalesce(rows, mapping).items() if p]
    with_values = {u.contact_id for u in updates}
    empty = [i for c, ids in by_contact.items() if c not in with_values for i in ids]
    if empty:  # nothing mapped for these rows (e.g. a mapping without sent dates)
        store.mark_writebacks_done(empty, now)
    if not updates:
        return True
    try:
        outcome = adapter.write_contacts(updates)
    except (RateLimited, TransientError, AuthError, RecordRejected) as exc:
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        ids = [i for c in with_values for i in by_contact[c]]
        attempts = max(r.attempts for r in rows)
        later = now + (timedelta(seconds=wait) if wait else retry_delay(attempts))
        store.retry_writebacks_later(ids, f"{type(exc).__name__}: {exc}", later)
        result.deferred += len(ids)
        log.warning("writeback.deferred", rows=len(ids), error=type(exc).__name__,
                    retry_at=later.isoformat())
        return False
    done = [i for c in outcome.written for i in by_contact.get(c, [])]
    store.mark_writebacks_done(done, now)
    for contact_id, reason in outcome.rejected.items():
        store.reject_writebacks(by_contact.get(contact_id, []), reason)
        result.rejected += len(by_contact.get(contact_id, []))
    result.contacts += len(outcome.written)
    result.rows += len(done)
    return True
