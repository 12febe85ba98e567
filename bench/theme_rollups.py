"""Benchmark: `theme_report` on the data bench/report.py builds, from the theme rollups and
from the tables, for headquarters, a region and a store (12 whole weeks, Europe/Oslo).

Assigns the comments' themes first if none are stored (each distinct comment once: the
bench's comments repeat), then rebuilds the theme rollups, then times:

    python bench/report.py --sqlite /tmp/report-bench.db          # builds 1 M answers
    python bench/theme_rollups.py sqlite:////tmp/report-bench.db [--repeat 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from closedloop.daemon.insight.periods import day_start
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import assign, fast, rollups, theme_report
from closedloop.daemon.insight.themes.settings import ThemeSettings
from closedloop.daemon.logging import configure
from closedloop.daemon.store import Store
from closedloop.daemon.store.records import from_db
from closedloop.daemon.store.sends import chunks
from closedloop.daemon.store.tables import Base

SETTINGS = ReportingSettings(timezone="Europe/Oslo", scope=("region", "store"),
                             segments={"region": "ticket.region", "store": "ticket.store"})
SCOPES = {"headquarters": Scope.ALL, "region": Scope({"region": frozenset({"region-03"})}),
          "store": Scope({"store": frozenset({"store-007"})})}
RESPONSES = Base.metadata.tables["responses"]
SENDS = Base.metadata.tables["sends"]
THEMES = Base.metadata.tables["response_themes"]
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _assign(store: Store) -> None:
    matcher = ThemeSettings().matcher()
    with store.engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(THEMES)):
            return
    started = time.perf_counter()
    cache: dict[tuple[str, str], tuple[str, ...]] = {}
    rows: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        for rid, comment, language in conn.execute(
                select(RESPONSES.c.id, RESPONSES.c.comment, SENDS.c.language)
                .join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
                .where(RESPONSES.c.comment.is_not(None), RESPONSES.c.comment != "")):
            key = (comment, language)
            if key not in cache:
                cache[key] = matcher.assign(comment, language)
            rows += [{"response_id": rid, "theme": t} for t in cache[key]]
        last = conn.execute(select(RESPONSES.c.updated_at, RESPONSES.c.id)
                            .order_by(RESPONSES.c.updated_at.desc(), RESPONSES.c.id.desc())
                            .limit(1)).one()
    with store.engine.begin() as conn:
        for part in chunks(rows, 5000):
            conn.execute(THEMES.insert(), list(part))
        assign._write_cursor(conn, assign._Cursor(from_db(last.updated_at), last.id,
                                                  matcher.fingerprint), NOW)
    print(f"themes assigned: {len(rows)} rows ({len(cache)} distinct comments) in "
          f"{time.perf_counter() - started:.1f} s")


def _time(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[min(repeat - 1, int(0.95 * repeat))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--slow-repeat", type=int, default=5)
    args = parser.parse_args()
    configure(level=logging.WARNING)
    store = Store(args.url)
    store.migrate()
    _assign(store)
    started = time.perf_counter()
    rollups.rebuild(store, SETTINGS, ThemeSettings().matcher().fingerprint, NOW)
    print(f"theme rollups rebuilt in {time.perf_counter() - started:.1f} s")
    zone = ZoneInfo(SETTINGS.timezone)
    monday = datetime(2026, 11, 30).date()
    since, until = day_start(monday - timedelta(weeks=12), zone), day_start(monday, zone)
    fast_counts = fast.counts
    for label, on in (("rollups", True), ("tables", False)):
        fast.counts = fast_counts if on else (lambda *a, **k: None)  # type: ignore[assignment]
        repeat = args.repeat if on else args.slow_repeat
        for who, scope in SCOPES.items():
            med, p95 = _time(lambda scope=scope: theme_report(  # type: ignore[misc]
                store, since=since, until=until, settings=SETTINGS, viewer=scope), repeat)
            print(f"theme_report 12 weeks {label:8s} {who:12s} median {med:7.1f} ms  "
                  f"p95 {p95:7.1f} ms ({repeat} runs)")
    fast.counts = fast_counts  # type: ignore[assignment]
    store.dispose()


if __name__ == "__main__":
    main()
