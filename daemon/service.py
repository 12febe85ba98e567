"""`closedloop run`: the scheduler's jobs and the response web app in one process.

APScheduler only decides when a job runs; every durable time lives in the store, so a
restart (or a kill -9) loses nothing. SIGTERM stops the web server, then waits for the
running jobs to finish.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler

from closedloop.daemon.logging import get_logger
from closedloop.daemon.runtime import Runtime

REPORTS_EVERY = timedelta(minutes=1)  # the report rollups' refresh (insight/rollups.py)


def _safe(name: str, job: Callable[[], Any]) -> Callable[[], None]:
    """A job that logs its failure instead of letting the scheduler print a traceback."""

    def run() -> None:
        try:
            job()
        except Exception:
            get_logger(job=name).exception("job.crashed")

    run.__name__ = run.__qualname__ = f"closedloop.{name}"
    return run


def job_schedule(rt: Runtime, poll_every: timedelta, dispatch_every: timedelta,
                 writeback_every: timedelta, cadence_every: timedelta | None = None
                 ) -> list[tuple[str, Callable[[], object], timedelta]]:
    """Each job the daemon runs, its name and its interval (start_scheduler's table; the
    steady benchmark runs the same on its simulated clock)."""
    return [("poll", rt.scheduled_poll, poll_every),
            ("intake", rt.intake, poll_every),
            ("dispatch", rt.dispatch, dispatch_every),
            ("writeback", rt.write_back, writeback_every),
            ("cadence", rt.cadence, cadence_every or poll_every),
            ("webhooks", rt.deliver_webhooks, writeback_every),
            ("bounces", rt.process_bounces, poll_every),
            ("alerts", rt.alerts, writeback_every),
            ("themes", rt.refresh_themes, writeback_every),
            ("reports", rt.refresh_reports, REPORTS_EVERY)]


def start_scheduler(rt: Runtime, poll_every: timedelta, dispatch_every: timedelta,
                    writeback_every: timedelta,
                    cadence_every: timedelta | None = None,
                    paused: bool = False) -> BackgroundScheduler:
    """Start the jobs, each at most one at a time, missed runs coalesced into one.

    The cadence (NPS lists) runs every `cadence_every`, default `poll_every`; the
    bounce Maildir reader every `poll_every` (a no-op unless mail.bounce_maildir is set);
    the poll at each source's adaptive pace (jobs/adaptive.py), checked every `poll_every`;
    the intake of CRM notifications every `poll_every` too (and right after one arrives);
    outbound webhooks and the comment themes every `writeback_every`, in jobs of their own.
    """
    scheduler = BackgroundScheduler(timezone="UTC")
    now = rt.clock()
    for name, job, every in job_schedule(rt, poll_every, dispatch_every, writeback_every,
                                         cadence_every):
        seconds = max(every.total_seconds(), 0.05)
        scheduler.add_job(
            _safe(name, job), "interval", id=name, seconds=seconds, next_run_time=now,
            max_instances=1, coalesce=True, misfire_grace_time=max(int(seconds * 2), 1),
            jitter=min(seconds / 10, 5) if seconds >= 10 else None,
        )
    scheduler.start(paused=paused)  # paused: jobs listed, none run (for inspection)
    return scheduler


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: it re-raises SIGTERM after shutting down,
    which would kill the process before the scheduler's running jobs finish."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# The web server shares its process with threads that run Python for long stretches (the
# answers' group-commit writer, the readers, the jobs). A thread back from I/O waits for the
# GIL up to the switch interval (5 ms by default), so every request paid that wait while the
# writer ran: at 0.5 ms the score POST served ~20 % more and its p99 halved (bench/answers.py).
SWITCH_INTERVAL = 0.0005


def make_server(rt: Runtime, host: str, port: int) -> uvicorn.Server:
    """The daemon's web server (one process, one event loop); sets SWITCH_INTERVAL."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    config = uvicorn.Config(rt.web_app(), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    return _Server(config)


def run_forever(rt: Runtime) -> None:
    """Serve until SIGTERM/SIGINT, then let the running jobs finish.

    The jobs start only once the web server is bound: a daemon whose port is taken must not
    send surveys whose links nobody can answer.
    """
    settings = rt.config.daemon
    log = get_logger(job="service")
    rt.store.migrate()
    server = make_server(rt, settings.listen_host, settings.listen_port)
    scheduler: list[BackgroundScheduler] = []
    finished = threading.Event()

    def start_jobs_when_bound() -> None:
        while not server.started:
            if finished.wait(0.05):
                return
        scheduler.append(start_scheduler(rt, settings.poll_every, settings.dispatch_every,
                                         settings.writeback_every, settings.cadence_every))
        log.info("service.started", listen=f"{settings.listen_host}:{settings.listen_port}",
                 programs=len(rt.programs), sources=len(rt.adapters))

    def stop(signum: int, _: object) -> None:
        log.info("service.stopping", signal=signal.Signals(signum).name)
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    starter = threading.Thread(target=start_jobs_when_bound, name="start-jobs", daemon=True)
    starter.start()
    try:
        server.run()
    finally:
        finished.set()
        starter.join()
        for running in scheduler:
            running.shutdown(wait=True)
        rt.store.dispose()
        log.info("service.stopped")


class BackgroundService:
    """The same service on threads, for the demo and the tests: start(), then stop()."""

    def __init__(self, rt: Runtime, host: str = "127.0.0.1", port: int = 0,
                 every: timedelta = timedelta(seconds=1)) -> None:
        self.rt = rt
        self.every = every
        self.server = make_server(rt, host, port)
        self._thread = threading.Thread(target=self.server.run, name="web", daemon=True)
        self.scheduler: BackgroundScheduler | None = None

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", [])
        return int(servers[0].sockets[0].getsockname()[1])

    def start(self, jobs: bool = True) -> None:
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the web server did not start")
            threading.Event().wait(0.01)
        if jobs:
            self.scheduler = start_scheduler(self.rt, self.every, self.every, self.every)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        self.server.should_exit = True
        self._thread.join(timeout=10)
