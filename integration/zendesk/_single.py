"""Small writes through the single-record endpoints, answered at once.

An update_many job costs its submit and at least one status read (two against the sandbox
and usually against Zendesk: the first read finds it still queued or working), and the
write-back waits for it. Most write-back rounds carry one or two records (an answer's
contact within its coalescing window, one ticket's hooks), so a call of at most SINGLE_MAX
records writes each with PUT users/{id}.json or PUT tickets/{id}.json instead: one request
per record, no job, no status read, and the 200 is Zendesk's own word that the record was
written (a row is marked written on it, as on a completed job's result for that item).
SINGLE_MAX stays at 2 because Zendesk's Update Ticket endpoint has its own limit (100
requests a minute per account) and from three records on a job costs no more requests.

Outcomes keep the job path's rules (see _jobs.py): a 4xx refuses that record only; a
transient failure (5xx, timeout, 429 past the retry budget) before anything is settled is
raised as it is, after that it is a PartialWrite with the records not written yet pending.
A ticket update carrying a note is a create: its caller passes a `call` that retries only
429s, so a note whose outcome is unknown is looked for (`check_first`) before the retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import structlog

from closedloop.integration._translate import redact
from closedloop.integration.errors import PartialWrite, RateLimited, RecordRejected, TransientError
from closedloop.integration.zendesk._jobs import JobOutcome
from closedloop.integration.zendesk._paging import CallFn

log = structlog.get_logger(__name__)

SINGLE_MAX = 2
"""Calls with at most this many records write them one by one (no job, no status read)."""


def write_singly(call: CallFn, endpoint: str, submit: Callable[[Any], Any],
                 items: Sequence[tuple[str, Any]], settled: JobOutcome, *,
                 source: str) -> JobOutcome:
    """PUT each (id, JSON change) of `items` on its own; the outcome per id, with what the
    caller `settled` itself, or PartialWrite once anything is settled and a request failed."""
    total = JobOutcome(list(settled.done), dict(settled.refused))
    for index, (item_id, obj) in enumerate(items):
        try:
            call(endpoint, partial(submit, obj))
        except RecordRejected as exc:
            total.refused[item_id] = redact(str(exc))[:300]
            log.warning("zendesk.single.refused", source=source, endpoint=endpoint,
                        status=exc.status)
            continue
        except TransientError as exc:
            if not total.done and not total.refused:
                raise  # nothing landed: the caller retries it all
            pending = [i for i, _ in items[index:]]
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            raise PartialWrite(f"Zendesk {endpoint} stopped: {exc}", written=total.done,
                               rejected=total.refused, pending=pending,
                               retry_after=wait) from exc
        total.done.append(item_id)
    log.info("zendesk.single.done", source=source, endpoint=endpoint, items=len(items),
             refused=len(total.refused) - len(settled.refused))
    return total
