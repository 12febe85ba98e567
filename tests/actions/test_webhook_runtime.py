"""The daemon wires `[[webhooks]]` into a job of its own with explicit scheduler options."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import start_scheduler

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_runtime_builds_endpoints_and_the_scheduler_runs_a_webhooks_job(tmp_path: Path
                                                                        ) -> None:
    """Endpoints come from the config with their secret; the webhooks job is separate from
    the write-back (a slow receiver never delays it), one instance at a time, coalesced."""
    config = parse_config({
        "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": "http://127.0.0.1:9"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "csat", "type": "csat", "source": "hubspot", "company": "Acme"}],
        "webhooks": [{"name": "crm-sync", "url": "http://127.0.0.1:9/x",
                      "secret_env": "HOOK", "events": ["comment.added"]}],
    })
    secrets = read_secrets(config, env={"CLOSEDLOOP_SECRET_KEY": "k" * 32,
                                        "CLOSEDLOOP_HUBSPOT_TOKEN": "pat", "HOOK": SECRET})
    rt = build_runtime(config, secrets)
    rt.store.migrate()
    try:
        [endpoint] = rt.endpoints
        assert (endpoint.name, endpoint.kinds, endpoint.timeout) == (
            "crm-sync", frozenset({"comment.added"}), 10.0)
        assert SECRET not in repr(endpoint)
        scheduler = start_scheduler(rt, timedelta(hours=1), timedelta(hours=1),
                                    timedelta(hours=1), paused=True)
        try:
            job = scheduler.get_job("webhooks")
            assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 7200)
            assert scheduler.get_job("writeback") is not None
        finally:
            scheduler.shutdown(wait=True)
    finally:
        rt.close()
