"""SourceGuard over a real store: what each kind of failure does to a source's state and log.

The jobs here are plain callables that raise the integration errors a CRM adapter raises;
the end-to-end behaviour against the sandboxes is in tests/e2e/test_source_pause_e2e.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from closedloop.daemon.health import SourceGuard
from closedloop.daemon.store import Store
from closedloop.integration.errors import AuthError, TransientError

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def guard(tmp_path: Path) -> SourceGuard:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    return SourceGuard(store)


def _raise(exc: Exception) -> Any:
    def work() -> None:
        raise exc
    return work


def test_transient_failures_are_failing_not_paused(guard: SourceGuard) -> None:
    """A 5xx run after run: one warning, state 'failing' (healthy), the job keeps running;
    the first success logs one recovery and the state is 'ok' again."""
    with capture_logs() as logs:
        for minute in range(3):
            assert guard.run("hubspot", "poll", _raise(TransientError("503")),
                             NOW + timedelta(minutes=minute)) is None
        state = guard.store.source_states()["hubspot"]
        assert (state.state, state.healthy, state.since) == ("failing", True, NOW)
        assert guard.run("hubspot", "poll", lambda: 7, NOW + timedelta(minutes=3)) == 7
    assert [e["event"] for e in logs] == ["source.failing", "source.recovered"]
    assert guard.store.source_states()["hubspot"].state == "ok"


def test_a_pause_by_a_job_that_no_longer_runs_ends(guard: SourceGuard) -> None:
    """Paused by the NPS cadence, whose programs were then removed: released, not stuck."""
    guard.run("zendesk", "cadence", _raise(AuthError("401")), NOW)
    assert guard.store.source_states()["zendesk"].state == "paused"
    guard.release("zendesk", "poll", NOW)  # another job: nothing changes
    assert guard.store.source_states()["zendesk"].state == "paused"
    guard.release("zendesk", "cadence", NOW)
    assert guard.store.source_states()["zendesk"].state == "ok"


def test_two_jobs_refused_at_once_pause_once(guard: SourceGuard) -> None:
    """Poll and write-back fail together on two scheduler threads: one pause, one log line."""
    both = threading.Barrier(2)

    def refused() -> None:
        both.wait(timeout=5)
        raise AuthError("401 token refused")

    with capture_logs() as logs:
        threads = [threading.Thread(target=guard.run, args=("hubspot", job, refused, NOW))
                   for job in ("poll", "writeback")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert [e["event"] for e in logs] == ["source.paused"]
    state = guard.store.source_states()["hubspot"]
    assert (state.state, state.failures) == ("paused", 1)
