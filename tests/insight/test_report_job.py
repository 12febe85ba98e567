"""The daemon keeps the report rollups current: a `reports` job every minute (one instance,
coalesced), running refresh under a job lock so one replica at a time does it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from insight.report_support import Seeder, nps_runtime

from closedloop.daemon.service import start_scheduler

NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


def test_the_reports_job_refreshes_the_rollups_under_a_lock(tmp_path: Path) -> None:
    """First run builds the rollups; a run while another replica holds the lock does
    nothing; the scheduler lists the job once a minute, one instance, coalesced."""
    rt = nps_runtime(tmp_path, lambda: NOW)
    rt.store.migrate()
    try:
        Seeder(rt.store).survey(sent_at=NOW - timedelta(days=1), score=9)
        assert rt.store.try_job_lock("reports:refresh", "other", NOW, timedelta(minutes=2),
                                     timedelta(0))
        assert rt.refresh_reports() == 0
        rt.store.release_job_lock("reports:refresh", "other", NOW, finished=False)
        assert rt.refresh_reports() > 0
        scheduler = start_scheduler(rt, timedelta(hours=1), timedelta(hours=1),
                                    timedelta(hours=1), paused=True)
        try:
            job = scheduler.get_job("reports")
            assert (job.trigger.interval, job.max_instances, job.coalesce) == (
                timedelta(minutes=1), 1, True)
        finally:
            scheduler.shutdown(wait=True)
    finally:
        rt.close()
