"""Bulk writes through Zendesk's background jobs, followed to the end together.

`users/update_many` and `tickets/update_many` take at most 100 items and answer with a
job status; the outcome per item is only known once the job has run. zenpy neither
chunks the list nor waits for the job, so both happen here: one job per 100 items, all
of a call's jobs submitted first (at most MAX_IN_FLIGHT at once), then followed together
with one Show Many Job Statuses request per round (`job_status(ids=...)`), the injected
sleep between rounds. Polling each job on its own cost one request per job per round.

A job still queued/working at the timeout, killed/failed as a whole, or forgotten by
Zendesk (missing from show_many, or a 404) leaves its items' outcome unknown: once every
other job has settled, JobsUnfinished (a TransientError) is raised naming those items and
carrying what the other jobs decided. The CRMAdapter protocol has no per-row "retry
later" slot, so today the caller retries the whole call; update_many sets values, so
writing the settled rows twice is harmless.
"""

from __future__ import annotations

from collections import deque
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
MAX_IN_FLIGHT = 30
"""Zendesk's job limit: 30 queued or running background jobs per account. A call never
has more than this many of its own jobs open; other jobs on the account (other tools,
Zendesk's own) can still push a submit over the limit, which is then a 429 the retry
policy waits out."""
DONE = frozenset({"completed"})
BROKEN = frozenset({"failed", "killed"})
STATUS_ENDPOINT = "job_statuses_show_many"


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


class JobsUnfinished(TransientError):
    """Some jobs never reported their items' outcome; retry those items (`pending`).

    `settled` is what the other jobs of the call decided: written and refused items.
    """

    def __init__(self, message: str, *, pending: Sequence[str], settled: JobOutcome) -> None:
        super().__init__(message)
        self.pending = list(pending)
        self.settled = settled


@dataclass
class _Job:
    """One submitted job: its items, its latest status and how long it has been followed."""

    id: str
    ids: list[str]
    status: dict[str, Any]
    waited: float = 0.0
    forgotten: bool = False

    @property
    def state(self) -> str:
        return str(self.status.get("status"))


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


def _poll(call: CallFn, job_status_api: Any, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The current status of each job id Zendesk still knows (show_many leaves the others
    out; a 404 for the whole request means it knows none of them)."""
    try:
        answer = call(STATUS_ENDPOINT, partial(job_status_api, ids=job_ids))
    except RecordRejected as exc:
        if exc.status != 404:
            raise
        return {}
    raw = answer.get("job_statuses") if isinstance(answer, Mapping) else answer
    statuses = (_as_dict(item) for item in raw or [])
    return {str(s.get("id")): s for s in statuses if s.get("id") is not None}


def _problem(job: _Job, timeout: float) -> str | None:
    """Why a job's items cannot be settled yet; None while it may still finish."""
    if job.state in BROKEN:
        return (f"Zendesk job {job.id} {job.state}: "
                f"{redact(str(job.status.get('message') or ''))[:200]}")
    if job.forgotten:
        return f"Zendesk job {job.id} status is gone (404, or left out of show_many)"
    if job.state not in DONE and job.waited >= timeout:
        return f"Zendesk job {job.id} still {job.state} after {job.waited:.0f} s"
    return None


def run_jobs(call: CallFn, endpoint: str, submit: Callable[[list[Any]], Any],
             job_status_api: Any, items: Sequence[tuple[str, Any]], waiting: JobWaiting,
             *, source: str, max_in_flight: int | None = None) -> JobOutcome:
    """Submit `items` (id, zenpy object) 100 per job, at most `max_in_flight` (default
    MAX_IN_FLIGHT) jobs open at once, and follow the open jobs together until each is
    done, broken, forgotten or timed out; a freed place is refilled before the next round."""
    limit = max(1, max_in_flight or MAX_IN_FLIGHT)
    chunks = deque(items[start:start + BATCH_SIZE] for start in range(0, len(items), BATCH_SIZE))
    total = JobOutcome()
    problems: list[str] = []
    pending: list[str] = []
    running: list[_Job] = []
    while chunks or running:
        while chunks and len(running) < limit:
            chunk = chunks.popleft()
            status = _as_dict(call(endpoint, partial(submit, [obj for _, obj in chunk])))
            job_id = status.get("id")
            running.append(_Job(str(job_id), [item_id for item_id, _ in chunk], status,
                                forgotten=job_id is None))
        still: list[_Job] = []
        for job in running:
            problem = _problem(job, waiting.timeout)
            if problem is not None:
                problems.append(problem)
                pending.extend(job.ids)
            elif job.state in DONE:
                part = outcome(job.ids, job.status)
                total.done.extend(part.done)
                total.refused.update(part.refused)
                log.info("zendesk.job.done", source=source, endpoint=endpoint, job=job.id,
                         items=len(job.ids), refused=len(part.refused))
            else:
                still.append(job)
        running = still
        if not running:
            continue
        waiting.sleep(waiting.interval)
        statuses = _poll(call, job_status_api, [job.id for job in running])
        for job in running:
            job.waited += waiting.interval
            job.forgotten = job.id not in statuses
            job.status = statuses.get(job.id, job.status)
    order = {item_id: index for index, (item_id, _) in enumerate(items)}
    total.done.sort(key=order.__getitem__)  # jobs may finish out of order: keep the input's
    if problems:
        log.warning("zendesk.job.unfinished", source=source, endpoint=endpoint,
                    jobs=len(problems), items=len(pending), settled=len(total.done))
        raise JobsUnfinished("; ".join(problems), pending=pending, settled=total)
    return total
