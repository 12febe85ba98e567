"""Bulk writes through Zendesk's background jobs, followed to the end together.

`users/update_many` and `tickets/update_many` take at most 100 items and answer with a
job status; the outcome per item is only known once the job has run. zenpy neither
chunks the list nor waits for the job, so both happen here: one job per 100 items, all
of a call's jobs submitted first (at most MAX_IN_FLIGHT at once), then followed together
with one Show Many Job Statuses request per round (`job_status(ids=...)`), the injected
sleep between rounds. Polling each job on its own cost one request per job per round.

Jobs can also be started and followed later (`start_jobs`): they wait on the adapter's
JobBoard, and every other call's poll in between reads their status too, so the follow-up
tickets' create_many jobs, submitted before the contact write, cost no poll of their own
when the contact write's jobs are followed meanwhile (one request per round for every job
the write-back cycle started). Waiting jobs count against MAX_IN_FLIGHT for every call.

Every item ends written, refused or pending, and one job's trouble never costs another
job's items a second trip:
- a submit refused whole (400/413/422) created no job: its items are split in two new
  jobs until the refused item stands alone (other refusals refuse the chunk's items);
- a job still queued/working at the timeout, killed/failed as a whole, or forgotten by
  Zendesk (missing from show_many, or a 404) leaves its items pending;
- a transient failure (5xx, 429 past the retry budget) stops submitting: the unsent
  items are pending, and the jobs already open are still followed to their end.
With anything pending, PartialWrite is raised once every other job has settled, so the
caller retries only those items: a note that landed is never added twice.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from closedloop.integration._translate import redact
from closedloop.integration.errors import (
    ClosedLoopError,
    PartialWrite,
    RateLimited,
    RecordRejected,
    TransientError,
)
from closedloop.integration.zendesk._paging import CallFn

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
WRITE_BATCH = BATCH_SIZE * MAX_IN_FLIGHT
"""Items one write call settles together: every job open at once, one poll per round."""
SPLIT_STATUSES = frozenset({400, 413, 422})
"""A submit refused with these was refused for what it carries: split it to find the item.
Any other refusal (404: no such endpoint) is not an item's fault, so splitting is futile."""


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
    created: dict[str, str] = field(default_factory=dict)  # item id -> new record id


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
        by_index = ids[index] if isinstance(index, int) and 0 <= index < len(ids) else None
        creating = item.get("action") == "create"  # its id is the new record's, not ours
        item_id = str(item["id"]) if item.get("id") is not None and not creating else by_index
        if creating and item_id is not None and item.get("id") is not None:
            result.created[item_id] = str(item["id"])
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


class JobBoard:
    """An adapter's jobs that were submitted and are not followed by their own call yet:
    every poll in the meantime asks for them too, and keeps what it read. (Only the
    write-back job's thread writes through jobs; the lock keeps the list whole anyway.)"""

    def __init__(self) -> None:
        self._waiting: list[_Job] = []
        self._lock = threading.Lock()

    def wait(self, jobs: Sequence[_Job]) -> None:
        with self._lock:
            self._waiting.extend(jobs)

    def take(self, jobs: Sequence[_Job]) -> None:
        """These jobs are followed by their own call again."""
        with self._lock:
            self._waiting = [job for job in self._waiting
                             if all(job is not j for j in jobs)]

    def open(self, timeout: float) -> list[_Job]:
        """Waiting jobs that may still be running on Zendesk; the others (known done,
        broken, forgotten or timed out) leave the board: they are not asked for again and
        hold no place, and their own call keeps what was read of them."""
        with self._lock:
            self._waiting = [job for job in self._waiting if job.state not in DONE | BROKEN
                             and not job.forgotten and job.waited < timeout]
            return list(self._waiting)


class _Run:
    """One call's jobs: what is left to submit, what is open, and what each item came to."""

    def __init__(self, call: CallFn, endpoint: str, submit: Callable[[list[Any]], Any],
                 job_status_api: Any, items: Sequence[tuple[str, Any]], waiting: JobWaiting,
                 source: str, settled: JobOutcome | None,
                 submit_call: CallFn | None = None, board: JobBoard | None = None) -> None:
        self.call, self.endpoint, self.submit = call, endpoint, submit
        self.board = board or JobBoard()
        self.submit_call = submit_call or call
        self.job_status_api, self.waiting, self.source = job_status_api, waiting, source
        self.chunks = deque(list(items[start:start + BATCH_SIZE])
                            for start in range(0, len(items), BATCH_SIZE))
        self.total = (JobOutcome(list(settled.done), dict(settled.refused)) if settled
                      else JobOutcome())
        self.problems: list[str] = []
        self.pending: list[str] = []
        self.running: list[_Job] = []
        self.stopped: ClosedLoopError | None = None  # why no more jobs are submitted
        self.submitted = 0

    def fill(self, limit: int) -> None:
        """Submit chunks until `limit` jobs are open (this call's and the board's waiting
        ones), the chunks run out or a submit fails."""
        while self.chunks and self.stopped is None and self.room(limit):
            chunk = self.chunks.popleft()
            try:
                status = _as_dict(self.submit_call(
                    self.endpoint, partial(self.submit, [obj for _, obj in chunk])))
            except RecordRejected as exc:
                self.refused(chunk, exc)
                continue
            except TransientError as exc:
                if not self.submitted and not self.total.done and not self.total.refused:
                    raise  # nothing is known to have landed: the caller retries it all
                self.chunks.appendleft(chunk)
                self.stop(exc, f"stopped submitting Zendesk jobs: {exc}")
                return
            self.submitted += 1
            job_id = status.get("id")
            self.running.append(_Job(str(job_id), [item_id for item_id, _ in chunk], status,
                                     forgotten=job_id is None))

    def room(self, limit: int) -> bool:
        """A job can be submitted: this call's and the board's open jobs are under `limit`."""
        return len(self.running) + len(self.board.open(self.waiting.timeout)) < limit

    def refused(self, chunk: list[tuple[str, Any]], exc: RecordRejected) -> None:
        """A submit refused whole wrote nothing: split it (the halves go next) or refuse it."""
        if len(chunk) > 1 and exc.status in SPLIT_STATUSES:
            half = len(chunk) // 2
            self.chunks.appendleft(chunk[half:])
            self.chunks.appendleft(chunk[:half])
            log.info("zendesk.job.split", source=self.source, endpoint=self.endpoint,
                     items=len(chunk), status=exc.status)
            return
        reason = redact(str(exc))[:300]
        self.total.refused.update((item_id, reason) for item_id, _ in chunk)
        log.warning("zendesk.job.refused", source=self.source, endpoint=self.endpoint,
                    items=len(chunk), status=exc.status)

    def stop(self, exc: ClosedLoopError, problem: str) -> None:
        self.stopped = self.stopped or exc
        self.problems.append(problem)

    def settle(self) -> None:
        """Take the outcome of every job that is done, broken, forgotten or timed out."""
        still: list[_Job] = []
        for job in self.running:
            problem = _problem(job, self.waiting.timeout)
            if problem is not None:
                self.problems.append(problem)
                self.pending.extend(job.ids)
            elif job.state in DONE:
                part = outcome(job.ids, job.status)
                self.total.done.extend(part.done)
                self.total.refused.update(part.refused)
                self.total.created.update(part.created)
                log.info("zendesk.job.done", source=self.source, endpoint=self.endpoint,
                         job=job.id, items=len(job.ids), refused=len(part.refused))
            else:
                still.append(job)
        self.running = still

    def poll(self) -> None:
        """Wait one interval, then read every open job's status with one request: this
        call's jobs and the ones waiting on the board."""
        self.waiting.sleep(self.waiting.interval)
        riders = self.board.open(self.waiting.timeout)
        try:
            statuses = _poll(self.call, self.job_status_api,
                             [job.id for job in [*self.running, *riders]])
        except (TransientError, RecordRejected) as exc:
            # Their outcome is unknown, and no job submitted now could be followed either.
            self.stop(exc, f"Zendesk job statuses unreadable ({len(self.running)} jobs): {exc}")
            self.pending.extend(item_id for job in self.running for item_id in job.ids)
            self.running = []
            return
        for job in [*self.running, *riders]:
            job.waited += self.waiting.interval
            job.forgotten = job.id not in statuses
            job.status = statuses.get(job.id, job.status)

    def finish(self, items: Sequence[tuple[str, Any]]) -> JobOutcome:
        """The outcome in the input's order, or PartialWrite when any item is pending."""
        self.pending.extend(item_id for chunk in self.chunks for item_id, _ in chunk)
        order = {item_id: index for index, (item_id, _) in enumerate(items)}
        self.total.done.sort(key=lambda item_id: order.get(item_id, -1))
        self.pending.sort(key=lambda item_id: order.get(item_id, -1))
        if not self.pending:
            return self.total
        log.warning("zendesk.job.unfinished", source=self.source, endpoint=self.endpoint,
                    problems=len(self.problems), items=len(self.pending),
                    settled=len(self.total.done))
        wait = self.stopped.retry_after if isinstance(self.stopped, RateLimited) else None
        raise PartialWrite("; ".join(self.problems), written=self.total.done,
                           rejected=self.total.refused, pending=self.pending, retry_after=wait)


def run_jobs(call: CallFn, endpoint: str, submit: Callable[[list[Any]], Any],
             job_status_api: Any, items: Sequence[tuple[str, Any]], waiting: JobWaiting,
             *, source: str, max_in_flight: int | None = None,
             settled: JobOutcome | None = None,
             submit_call: CallFn | None = None, board: JobBoard | None = None) -> JobOutcome:
    """Submit `items` (id, JSON change) 100 per job, at most `max_in_flight` (default
    MAX_IN_FLIGHT) jobs open at once, and follow the open jobs together until each is
    done, broken, forgotten or timed out; a freed place is refilled before the next round.

    `settled` is what the caller decided before any job (e.g. ids it refused itself): it is
    part of the outcome and of a PartialWrite. A transient failure before any job was
    submitted and with nothing settled is raised as it is. `submit_call` (default `call`)
    submits: a create passes one that retries 429s only, as a 5xx may have created the job.
    The polls also read the jobs waiting on `board` (see start_jobs).
    """
    return start_jobs(call, endpoint, submit, job_status_api, items, waiting, source=source,
                      max_in_flight=max_in_flight, settled=settled, submit_call=submit_call,
                      board=board).finish()


class StartedJobs:
    """Jobs submitted by start_jobs and waiting on the board until `finish` follows them."""

    def __init__(self, run: _Run, items: Sequence[tuple[str, Any]], limit: int) -> None:
        self._run, self._items, self._limit = run, items, limit

    def finish(self) -> JobOutcome:
        """Follow the jobs (and submit the chunks that found no place) to the end; statuses
        other calls' polls read meanwhile are used as they are, so a job they saw done
        costs no poll here. The outcome or PartialWrite, as run_jobs."""
        run = self._run
        run.board.take(run.running)
        while (run.chunks and run.stopped is None) or run.running:
            run.fill(self._limit)
            run.settle()
            if run.running or (run.chunks and run.stopped is None and not run.room(self._limit)):
                run.poll()  # the board's jobs hold every place: poll them to free one
        return run.finish(self._items)


def start_jobs(call: CallFn, endpoint: str, submit: Callable[[list[Any]], Any],
               job_status_api: Any, items: Sequence[tuple[str, Any]], waiting: JobWaiting,
               *, source: str, max_in_flight: int | None = None,
               settled: JobOutcome | None = None, submit_call: CallFn | None = None,
               board: JobBoard | None = None) -> StartedJobs:
    """Submit what fits now (as run_jobs) and leave the jobs waiting on `board`, so the
    calls made before `finish` poll them with their own. A transient failure before any
    job was submitted is raised here, as run_jobs raises it."""
    limit = max(1, max_in_flight or MAX_IN_FLIGHT)
    run = _Run(call, endpoint, submit, job_status_api, items, waiting, source, settled,
               submit_call, board)
    run.fill(limit)
    run.board.wait(run.running)
    return StartedJobs(run, items, limit)
