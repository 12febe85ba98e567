"""Benchmark: `closedloop report` on a million answers, against pandas on the same rows.

Builds N answers (default 1,000,000; ~70 % of the surveys sent are answered, so ~1.43 M
surveys) over one year: four programs (two NPS, CSAT, CES), two sources, five languages,
12 regions of 20 stores each (custom segments, `[reporting] scope = ["region", "store"]`),
one team and two owners per store (480 owners), two organizations per store, ~30 % of
answers with a comment: owners, teams and organizations belong to a store, as in a real
shop network. `--independent` draws them independently of the store instead (300 owners in
30 teams, 500 organizations): the worst case for the rollups per scope value (every store
has every team). Then prints, on SQLite and/or PostgreSQL:

- the build: rows written, and the rollups built from them (refresh's first run);
- the weekly NPS-by-owner report over 52 weeks, cold (new engine), then --pairs times
  interleaved with the same figures (n, promoters, detractors, NPS per week and owner)
  computed by pandas' in-memory group-by (local week in the reporting zone included):
  medians, ranges and the ratio pandas time / report time; pandas reading the same rows
  from the same database plus the group-by; `--explain` adds PostgreSQL's EXPLAIN ANALYZE
  of the report's rollup query (the database's time alone);
- p95 over --repeat runs of the contract functions the dashboard calls, for headquarters
  (no scope), a regional manager (scope region=...) and a store manager (scope store=...),
  and one request the rollups cannot answer (read from the tables: the worst case).

    pip install -e '.[bench]'
    python bench/report.py --sqlite /tmp/report-bench.db [--pg postgresql://...] \
        [--answers 1000000] [--repeat 20] [--pairs 11] [--reuse [--keep-rollups]] \
        [--no-dashboard] [--explain]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select, text

from closedloop.daemon.insight.report import (
    Query,
    Scope,
    distribution,
    latest_comments,
    refresh,
    report,
    segment_values,
)
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.answers import RESPONSES
from closedloop.daemon.store.reports import bulk_insert
from closedloop.daemon.store.sends import SENDS

SETTINGS = ReportingSettings(timezone="Europe/Oslo", scope=("region", "store"),
                             segments={"region": "ticket.region", "store": "ticket.store"})
START = datetime(2025, 12, 1, tzinfo=UTC)  # a Monday
DAYS = 364
PROGRAMS = (("nps-product", "nps", 0.35), ("nps-support", "nps", 0.25),
            ("csat-support", "csat", 0.25), ("ces-support", "ces", 0.15))
SCALE = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
COMMENTS = ("slow delivery", "great support", "invoice was wrong", "easy to use",
            "took three emails", "refund still missing", "friendly agent", "app crashes")


def category(kind: str, score: int) -> str:
    if kind == "nps":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    if kind == "csat":
        return "satisfied" if score >= 4 else "unsatisfied"
    return "easy" if score >= 5 else "neutral" if score == 4 else "difficult"


Pair = tuple[dict[str, Any], dict[str, Any] | None]


def rows(answers: int, seed: int, pg: bool, independent: bool) -> Iterator[Pair]:
    """(send, response or None) pairs, ids from 1, in send order."""
    rng = random.Random(seed)
    stores = [(f"store-{i:03d}", f"region-{i // 20:02d}") for i in range(240)]
    if independent:
        owners = [(f"owner-{i:03d}", f"team-{i % 30:02d}", -1) for i in range(300)]
    else:  # two owners per store, the store's own team
        owners = [(f"owner-{i:03d}", f"team-{i // 2:03d}", i // 2) for i in range(480)]
    bias = {team: rng.uniform(-1.5, 1.5) for _, team, _ in owners}
    surveys = int(answers / 0.7)
    response_id = 0
    for send_id in range(1, surveys + 1):
        program, kind, _ = rng.choices(PROGRAMS, weights=[p[2] for p in PROGRAMS])[0]
        owner, team, at = owners[rng.randrange(len(owners))]
        at = rng.randrange(240) if at < 0 else at
        store, region = stores[at]
        organization = (f"org-{rng.randrange(500)}" if independent
                        else f"org-{at + 240 * rng.randrange(2):03d}")
        sent = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        segments = {"region": region, "store": store}
        send = {"id": send_id, "idem_key": f"b{send_id}", "program": program,
                "survey_type": kind, "source": "hubspot" if send_id % 3 else "zendesk",
                "ticket_id": f"t{send_id}", "contact_id": f"c{send_id % 400_000}",
                "language": rng.choice(("en", "en", "fr", "nb", "de", "es")),
                "owner_id": owner, "team_id": team, "pipeline": f"pipe-{send_id % 8}",
                "organization_id": organization, "created_at": sent,
                "due_at": sent, "status": "sent", "sent_at": sent, "attempts": 1,
                "kind": "survey", "reminder_no": 0, "channel": "email",
                "segments": json.dumps(segments) if pg else segments}
        response = None
        if response_id < answers and rng.random() < 0.7:
            response_id += 1
            low, high = SCALE[kind]
            drift = (sent - START).days / DAYS
            score = round(min(high, max(low, rng.gauss(high * 0.75 + bias[team] + drift,
                                                        (high - low) / 3.5))))
            answered = sent + timedelta(minutes=rng.randrange(5, 4 * 1440))
            response = {"id": response_id, "send_id": send_id, "score": score,
                        "comment": rng.choice(COMMENTS) if rng.random() < 0.3 else None,
                        "category": category(kind, score), "answered_at": answered,
                        "updated_at": answered, "owner_id_at_answer": owner,
                        "team_id_at_answer": team, "attributed_at": answered}
        yield send, response


def build(store: Store, answers: int, seed: int, independent: bool) -> None:
    pg = store.engine.dialect.name == "postgresql"
    started = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM report_rollups"))
        conn.execute(text("DELETE FROM report_facts"))
        conn.execute(text("DELETE FROM cursors WHERE source = 'report'"))
        conn.execute(text("DELETE FROM responses"))
        conn.execute(text("DELETE FROM sends"))
    responses: list[dict[str, Any]] = []
    sends: list[dict[str, Any]] = []
    written = [0, 0]
    send_columns = [c.name for c in SENDS.c]
    answer_columns = [c.name for c in RESPONSES.c]

    def flush() -> None:
        with store.engine.begin() as conn:
            written[0] += bulk_insert(conn, SENDS, (tuple(r.get(c) for c in send_columns)
                                                    for r in sends))
            written[1] += bulk_insert(conn, RESPONSES, (tuple(r.get(c) for c in answer_columns)
                                                        for r in responses))
        sends.clear()
        responses.clear()

    for send, response in rows(answers, seed, pg, independent):
        sends.append(send)
        if response is not None:
            responses.append(response)
        if len(sends) >= 100_000:
            flush()
    flush()
    if pg:
        with store.engine.begin() as conn:
            for table in ("sends", "responses"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    loaded = time.perf_counter() - started
    print(f"  load: {written[0]:,} surveys and {written[1]:,} answers written in "
          f"{loaded:.1f} s")


def build_rollups(store: Store) -> None:
    """The rollups from scratch (what the first refresh after an upgrade does)."""
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM cursors WHERE source = 'report'"))
    started = time.perf_counter()
    refresh(store, SETTINGS, datetime.now(UTC))
    built = time.perf_counter() - started
    with store.engine.connect() as conn:
        cells = conn.scalar(text("SELECT count(*) FROM report_rollups"))
    print(f"  rollups: {cells:,} rows built in {built:.1f} s")


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def pandas_frame(url: str, since: date, until: date) -> tuple[float, pd.DataFrame]:
    """(seconds, frame): the NPS answers of [since, until] read into pandas."""
    store = Store(url)
    lo = datetime.combine(since, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    hi = datetime.combine(until, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
    sql = (select(RESPONSES.c.answered_at, RESPONSES.c.score, SENDS.c.owner_id)
           .select_from(SENDS.join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
           .where(SENDS.c.survey_type == "nps", SENDS.c.kind == "survey",
                  RESPONSES.c.answered_at >= lo, RESPONSES.c.answered_at < hi))
    started = time.perf_counter()
    with store.engine.connect() as conn:
        frame = pd.read_sql(sql, conn)
    read = time.perf_counter() - started
    store.dispose()
    return read, frame


def group_by(frame: pd.DataFrame, since: date, until: date) -> pd.DataFrame:
    """What the report computes, in pandas: local day, ISO week, n, promoters, detractors."""
    stamps = pd.to_datetime(frame["answered_at"], utc=True).dt.tz_convert(SETTINGS.timezone)
    day = stamps.dt.tz_localize(None).dt.normalize()
    keep = (day >= pd.Timestamp(since)) & (day <= pd.Timestamp(until))
    week = (day - pd.to_timedelta(day.dt.day_of_week, unit="D"))[keep]
    data = pd.DataFrame({"week": week, "owner": frame["owner_id"][keep],
                         "pro": (frame["score"][keep] >= 9), "det": (frame["score"][keep] <= 6)})
    out = data.groupby(["week", "owner"], sort=True).agg(n=("pro", "size"), pro=("pro", "sum"),
                                                         det=("det", "sum"))
    out["nps"] = 100.0 * (out["pro"] - out["det"]) / out["n"]
    return out


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def p95(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    times = sorted(timed(call)[0] for _ in range(repeat))
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def bench(url: str, label: str, args: argparse.Namespace) -> None:
    data = ("owners, teams, organizations drawn independently of the store (worst case)"
            if args.independent else "owners, teams, organizations belong to a store")
    print(f"{label} (load average {load()}; data: {data}):")
    store = Store(url)
    store.migrate()
    if not args.reuse:
        build(store, args.answers, args.seed, args.independent)
    if not args.keep_rollups:
        build_rollups(store)
    store.dispose()
    until = START.date() + timedelta(days=DAYS - 1)
    since = until - timedelta(days=7 * 52 - 1)
    weekly = Query(since=since, until=until, period="week", segment="owner",
                   programs=("nps-product", "nps-support"))
    cold_store = Store(url)
    cold, result = timed(lambda: report(cold_store, SETTINGS, weekly))
    read, frame = pandas_frame(url, since, until)
    reference = group_by(frame, since, until)
    ours = {(r.period_start, r.segment_value): (r.figures.answers, r.figures.score)
            for r in result if r.figures.survey_type == "nps" and r.figures.answers}
    theirs = {(k[0].date(), k[1]): (int(v.n), float(v.nps)) for k, v in reference.iterrows()}
    same = ours.keys() == theirs.keys() and all(
        ours[k][0] == theirs[k][0] and abs((ours[k][1] or 0) - theirs[k][1]) < 1e-9
        for k in ours)
    rows = len(result)
    # The timed calls' heap holds none of the bench's own objects (25 000 rows kept alive
    # would make each of the report's garbage collections walk them too)
    del result, ours, theirs, reference
    gc.collect()
    # Interleaved (report, pandas, report, pandas...): the shared machine's load moves both
    ours_t, theirs_t = [], []
    started_load = load()
    for _ in range(args.pairs):
        ours_t.append(timed(lambda: report(cold_store, SETTINGS, weekly))[0])
        theirs_t.append(timed(lambda: group_by(frame, since, until))[0])
    cold_store.dispose()
    warm, in_memory = statistics.median(ours_t), statistics.median(theirs_t)
    with_read = read + in_memory
    print(f"  weekly NPS by owner, 52 weeks ({rows:,} rows; same figures as pandas: "
          f"{same}):")
    ratios = sorted(p / r for r, p in zip(ours_t, theirs_t, strict=True))

    def spread(times: list[float]) -> str:
        return f"{min(times) * 1000:.0f}-{max(times) * 1000:.0f}"

    print(f"    {args.pairs} interleaved pairs (load average before {started_load}):")
    print(f"    report cold (new engine, first call) {cold * 1000:.0f} ms, warm median "
          f"{warm * 1000:.0f} ms (range {spread(ours_t)})")
    print(f"    pandas in-memory group-by median {in_memory * 1000:.0f} ms "
          f"(range {spread(theirs_t)}): ratio = pandas time / report time, of the medians "
          f"{in_memory / warm:.2f}x, per pair median {statistics.median(ratios):.2f}x "
          f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}x)")
    print(f"    pandas read + group-by {with_read * 1000:.0f} ms "
          f"(ratio {with_read / warm:.1f}x warm, {with_read / cold:.1f}x cold)")
    print(f"  load average now: {load()}")
    if args.explain and store.engine.dialect.name == "postgresql":
        explain(url, weekly)
    if not args.no_dashboard:
        dashboard(url, until, args.repeat)


def explain(url: str, query: Query) -> None:
    """EXPLAIN ANALYZE of the rollup query the report sends (the database's time alone)."""
    from sqlalchemy import event

    store = Store(url)
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "report_rollups" in statement and "DISTINCT" not in statement:
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    report(store, SETTINGS, query)
    event.remove(store.engine, "before_cursor_execute", keep)
    statement, parameters = sent[-1]
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        print("  EXPLAIN ANALYZE of the report's rollup query:")
        for (line,) in cursor.fetchall():
            print(f"    {line}")
    finally:
        raw.close()
        store.dispose()


def dashboard(url: str, until: date, repeat: int) -> None:
    store = Store(url)
    since = until - timedelta(days=7 * 12 - 1)
    store_scope = Scope({"store": frozenset({"store-067"})})
    region_scope = Scope({"region": frozenset({"region-03"})})
    print(f"  dashboard calls, median / p95 of {repeat} runs each (12 weeks; "
          f"load average {load()}):")
    for who, scope in (("headquarters", Scope.ALL), ("region", region_scope),
                       ("store", store_scope)):
        trend = Query(since=since, until=until, scope=scope)
        by_team = Query(since=since, until=until, segment="team", scope=scope)
        calls: dict[str, Callable[[], Any]] = {
            "refresh": lambda: refresh(store, SETTINGS, datetime.now(UTC)),
            "report trend": lambda q=trend: report(store, SETTINGS, q),
            "report by team": lambda q=by_team: report(store, SETTINGS, q),
            "distribution": lambda q=trend: distribution(store, SETTINGS, q),
            "latest_comments": lambda q=trend: latest_comments(store, SETTINGS, q, limit=50),
            "segment_values owner": lambda s=scope: segment_values(store, SETTINGS, "owner", s),
            "segment_values store": lambda s=scope: segment_values(store, SETTINGS, "store", s),
        }
        for name, call in calls.items():
            median, worst = p95(call, repeat)
            print(f"    {who:12s} {name:22s} {median * 1000:7.1f} ms  p95 {worst * 1000:7.1f} ms")
    worst_case = Query(since=since, until=until, segment="team", scope=region_scope,
                       filters={"language": frozenset({"fr"}),
                                "source": frozenset({"hubspot"})})
    median, worst = p95(lambda: report(store, SETTINGS, worst_case), max(3, repeat // 4))
    print(f"    worst case: region by team filtered by language and source (two filters: "
          f"read from the tables) {median * 1000:.1f} ms  p95 {worst * 1000:.1f} ms")
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", help="SQLite file to build (replaced unless --reuse)")
    parser.add_argument("--pg", help="PostgreSQL URL (its tables are emptied)")
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=11,
                        help="interleaved (report, pandas group-by) timings")
    parser.add_argument("--no-dashboard", action="store_true",
                        help="time the weekly report against pandas only")
    parser.add_argument("--explain", action="store_true",
                        help="PostgreSQL: EXPLAIN ANALYZE of the report's rollup query")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--independent", action="store_true",
                        help="owners, teams and organizations independent of the store "
                             "(the worst case for the rollups per scope value)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the surveys and answers loaded before (rollups are rebuilt)")
    parser.add_argument("--keep-rollups", action="store_true",
                        help="with --reuse: keep the rollups too (time the queries only)")
    args = parser.parse_args()
    if not (args.sqlite or args.pg):
        parser.error("give --sqlite FILE and/or --pg URL")
    if args.sqlite:
        bench(f"sqlite:///{args.sqlite}", "SQLite", args)
    if args.pg:
        bench(args.pg, "PostgreSQL", args)


if __name__ == "__main__":
    main()
