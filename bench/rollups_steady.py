"""Micro-measure of the report rollups' scheduled refresh at steady state.

A store (SQLite in a temp dir, or --url) holds a day of surveys at --per-day (30 % answered
within the hour); then --hours more are simulated minute by minute on the daemon's schedule:
surveys sent and answers recorded as they come, and each minute the reports job's steps
(`rollups.settled`, then a thorough `refresh` when it says something moved). Prints the
jobs-thread CPU of those steps, per run (÷ minutes simulated) and per survey sent in the
simulated hours (÷ surveys sent), and what a run read.

    python bench/rollups_steady.py [--per-day 1000] [--hours 6] [--url URL]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "insight"))

import structlog
from report_support import Seeder

from closedloop.daemon.insight import rollups
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store

START = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.url or f"sqlite:///{tmp}/state.db")
        store.migrate()
        seed = Seeder(store)
        settings = ReportingSettings(timezone="Europe/Oslo")
        gap = timedelta(days=1) / args.per_day
        pending: list[tuple[datetime, int]] = []

        def arrive(at: datetime) -> None:
            send_id = seed.survey(sent_at=at)
            if rng.random() < 0.3:
                pending.append((at + timedelta(minutes=rng.uniform(1, 60)), send_id))

        def answers_due(now: datetime) -> None:
            for at, send_id in [p for p in pending if p[0] <= now]:
                seed.answer(send_id, rng.randint(0, 10), at)
            pending[:] = [p for p in pending if p[0] > now]

        now = START
        while now < START + timedelta(days=1):  # the day before: counted by a rebuild
            arrive(now)
            now += gap
            answers_due(now)
        rollups.refresh(store, settings, now)
        verified = rollups.Verified()
        minutes = int(args.hours * 60)
        next_send, sent = now, 0
        cpu = {"settled": 0.0, "refresh": 0.0}
        refreshes = 0
        for _ in range(minutes):
            now += timedelta(minutes=1)
            while next_send <= now:
                arrive(next_send)
                sent += 1
                next_send += gap
            answers_due(now)
            t0 = time.thread_time()
            quiet = rollups.settled(store, settings, now, verified)
            t1 = time.thread_time()
            cpu["settled"] += t1 - t0
            if not quiet:
                rollups.refresh(store, settings, now, thorough=True)
                cpu["refresh"] += time.thread_time() - t1
                refreshes += 1
        store.dispose()
    total = sum(cpu.values())
    print(f"per_day {args.per_day}, {minutes} minutes simulated, {sent} surveys sent, "
          f"{refreshes} refreshes; load {os.getloadavg()}")
    print(f"  CPU ms per minute run (÷ {minutes} runs): settled "
          f"{1000 * cpu['settled'] / minutes:.3f}, refresh {1000 * cpu['refresh'] / minutes:.3f}")
    print(f"  CPU ms per refresh (÷ {refreshes}): {1000 * cpu['refresh'] / max(refreshes, 1):.3f}")
    print(f"  CPU ms per survey sent (÷ {sent}): {1000 * total / max(sent, 1):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
