"""The daemon keeps the report rollups current: a `reports` job every minute (one instance,
coalesced), running refresh under a job lock so one replica at a time does it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from insight.report_support import Seeder

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import start_scheduler

NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


def test_the_reports_job_refreshes_the_rollups_under_a_lock(tmp_path: Path) -> None:
    """First run builds the rollups; a run while another replica holds the lock does
    nothing; the scheduler lists the job once a minute, one instance, coalesced."""
    config = parse_config({
        "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": "http://127.0.0.1:9"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "nps", "type": "nps", "source": "hubspot", "company": "Acme"}],
    })
    secrets = read_secrets(config, env={"CLOSEDLOOP_SECRET_KEY": "k" * 32,
                                        "CLOSEDLOOP_HUBSPOT_TOKEN": "pat"})
    rt = build_runtime(config, secrets, clock=lambda: NOW)
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
