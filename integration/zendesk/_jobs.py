"""Bulk writes through Zendesk's background jobs, followed to the end.

`users/update_many` and `tickets/update_many` take at most 100 items and answer with a
job status; the outcome per item is only known once the job has run. zenpy neither
chunks the list nor waits for the job, so both happen here: one job per 100 items, then
bounded polling with the injected sleep. A job still queued/working at the timeout, or
killed/failed as a whole, raises TransientError (the rows stay queued and are retried;
update_many sets values, so writing them twice is harmless).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from integration._translate import redact
from integration.errors import RecordRejected, TransientError
from integration.zendesk._paging import CallFn

log = structlog.get_logger(__name__)

BATCH_SIZE = 100  # update_many limit
DONE = frozenset({"completed"})
BROKEN = frozenset({"failed", "killed"})


@dataclass(frozen=True)
class JobWaiting:
    """How a job is followed: poll every `interval` seconds, give up after `timeout`."""

    interval: float
    timeout: float
    sleep: Callable[[float], None]


@dataclass
class JobOutcome:
    """Per item id: done, or Zendesk's reason for refusing it."""

    done: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {}


def refusal(result: Mapping[str, Any]) -> str:
    """Zendesk's reason for one failed item ("error: details"), redacted."""
    error = str(result.get("error") or "failed")
    details = result.get("details") or result.get("message") or ""
    if isinstance(details, Mapping | list):
        details = "; ".join(str(v) for v in (details.values() if isinstance(details, Mapping)
                                             else details))
    text = f"{error}: {details}" if details else error
    return redact(text)[:300]


def follow(call: CallFn, job_status_api: Any, job: Any, waiting: JobWaiting) -> dict[str, Any]:
    """Poll one job until it is done; its final status as a plain dict."""
    status = _as_dict(job)
    job_id = status.get("id")
    waited = 0.0
    while str(status.get("status")) not in DONE:
        state = str(status.get("status"))
        if state in BROKEN:
            raise TransientError(f"Zendesk job {job_id} {state}: "
                                 f"{redact(str(status.get('message') or ''))[:200]}")
        if waited >= waiting.timeout:
            raise TransientError(f"Zendesk job {job_id} still {state} after {waited:.0f} s")
        waiting.sleep(waiting.interval)
        waited += waiting.interval
        try:
            status = _as_dict(call("job_status", partial(job_status_api, id=job_id)))
        except RecordRejected as exc:
            if exc.status != 404:
                raise
            # Zendesk keeps the latest 100 job statuses for about an hour: the outcome is lost.
            raise TransientError(f"Zendesk job {job_id} status is gone (404)") from exc
    return status


def outcome(ids: Sequence[str], status: Mapping[str, Any]) -> JobOutcome:
    """Map a completed job's results to item ids (by `id`, else by `index`)."""
    result = JobOutcome()
    wanted = set(ids)
    for raw in status.get("results") or []:
        item = _as_dict(raw)
        index = item.get("index")
        item_id = str(item["id"]) if item.get("id") is not None else (
            ids[index] if isinstance(index, int) and 0 <= index < len(ids) else None)
        if item_id is None or item_id not in wanted:
            continue
        ok = item.get("success")
        if ok is False or item.get("error"):
            result.refused[item_id] = refusal(item)
        elif item_id not in result.refused:
            result.done.append(item_id)
    answered = set(result.done) | set(result.refused)
    for item_id in ids:
        if item_id not in answered:
            result.refused[item_id] = "the Zendesk job reported no result for this item"
    result.done = [i for i in ids if i in set(result.done) and i not in result.refused]
    return result


def run_jobs(call: CallFn, endpoint: str, submit: Callable[[list[Any]], Any],
             job_status_api: Any, items: Sequence[tuple[str, Any]], waiting: JobWaiting,
             *, source: str) -> JobOutcome:
    """Submit `items` (id, zenpy object) 100 per job and follow each job to the end."""
    total = JobOutcome()
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start:start + BATCH_SIZE]
        ids = [item_id for item_id, _ in chunk]
        objects = [obj for _, obj in chunk]
        job = call(endpoint, partial(submit, objects))
        status = follow(call, job_status_api, job, waiting)
        part = outcome(ids, status)
        total.done.extend(part.done)
        total.refused.update(part.refused)
        log.info("zendesk.job.done", source=source, endpoint=endpoint, job=status.get("id"),
                 items=len(chunk), refused=len(part.refused))
    return total
