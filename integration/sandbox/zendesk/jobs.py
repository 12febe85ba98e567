"""Background jobs (update_many) and how their status looks while they run.

The sandbox does the work when the job is submitted (a real job also runs whether or not
anyone polls), but reports it "queued", then "working" for a configurable number of polls
before "completed" with the per-item results. So an adapter that reads results before the
job completes, or never polls, sees what it would see against Zendesk.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from .values import now

KEPT_JOBS: Final = 100
"""Zendesk keeps only the latest job statuses; older ids answer 404."""


@dataclass
class _Job:
    id: str
    results: list[dict[str, Any]]
    polls: int = 0


class JobStore:
    """Submitted jobs by id; `working_polls` polls answer "working" before "completed"."""

    def __init__(self, working_polls: int = 1) -> None:
        self.working_polls = working_polls
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, results: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
        """Store a finished job's results; returns the "queued" job_status."""
        job = _Job(uuid.uuid4().hex, results)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                self._jobs.popitem(last=False)
        return self._status(job, base_url, "queued", None)

    def poll(self, job_id: str, base_url: str) -> dict[str, Any] | None:
        """The job's status now (each poll moves it on); None when unknown or expired."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.polls += 1
            polls = job.polls
        if polls <= self.working_polls:
            done = len(job.results) * polls // (self.working_polls + 1)
            return self._status(job, base_url, "working", done)
        return self._status(job, base_url, "completed", len(job.results))

    def poll_many(self, job_ids: list[str], base_url: str) -> list[dict[str, Any]]:
        """Show Many Job Statuses: each known job polled once (moved on), in the order
        asked; unknown or expired ids are left out, as Zendesk leaves them out."""
        statuses = (self.poll(job_id, base_url) for job_id in dict.fromkeys(job_ids))
        return [status for status in statuses if status is not None]

    @staticmethod
    def _status(job: _Job, base_url: str, status: str, progress: int | None) -> dict[str, Any]:
        done = status == "completed"
        return {
            "id": job.id, "url": f"{base_url}/api/v2/job_statuses/{job.id}.json",
            "total": len(job.results), "progress": progress, "status": status,
            "message": f"Completed at {now():%Y-%m-%d %H:%M:%S} +0000" if done else None,
            "results": [dict(r) for r in job.results] if done else None,
        }
