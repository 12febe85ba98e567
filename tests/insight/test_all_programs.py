"""Rollup rows summed across a survey type's programs (program ""): each equals the sum of
its programs' rows for random data, also after re-scores, a late attribution, new surveys
and `forget`; a report of whole types reads them (one row per cell) with the figures the
tables give; a report of part of a type's programs reads the programs' own rows; a
database whose rollups predate them rebuilds them once."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from insight.report_support import Seeder
from sqlalchemy import select, text

from closedloop.daemon.insight import rollup_queries, rollups
from closedloop.daemon.insight.report import Query, Row, Scope, refresh, report, segment_values
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import alembic_config
from closedloop.daemon.store.reports import ALL_PROGRAMS, COUNTS, KEY, ROLLUPS

SCOPED = ReportingSettings(timezone="Europe/Oslo", scope=("region", "store"),
                           segments={"region": "ticket.region", "store": "ticket.store"})
START = datetime(2026, 9, 28, 6, 0, tzinfo=UTC)  # a Monday
STORES = {"oslo": "north", "bergen": "north", "lisboa": "south"}
PROGRAMS = (("nps-a", "nps"), ("nps-b", "nps"), ("csat-a", "csat"), ("ces-a", "ces"),
            ("ces-b", "ces"))
EVERYTHING = {"source": frozenset({"hubspot"})}  # a filter the rollups cannot answer
SINCE, UNTIL = date(2026, 9, 28), date(2026, 12, 27)  # whole weeks


def seed_many(seed: Seeder, rng: random.Random, count: int,
              start: datetime = START) -> list[int]:
    """`count` surveys sent over the 12 weeks from `start` (a few never sent)."""
    ids = []
    for _ in range(count):
        program, kind = rng.choice(PROGRAMS)
        store_name = rng.choice(sorted(STORES))
        sent = start + timedelta(hours=rng.randrange(0, 24 * 7 * 12))
        low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[kind]
        ids.append(seed.survey(
            sent_at=sent if rng.random() < 0.95 else None, program=program, survey_type=kind,
            team_id=rng.choice(["a", "b", None]), owner_id=rng.choice(["o1", "o2", "o3"]),
            language=rng.choice(["en", "nb"]),
            segments={"region": STORES[store_name], "store": store_name},
            score=rng.randint(low, high) if rng.random() < 0.7 else None,
            answered_at=sent + timedelta(hours=rng.randrange(1, 60))))
    return ids


def split_rows(store: Store) -> tuple[dict[tuple[object, ...], tuple[int, ...]],
                                      dict[tuple[object, ...], tuple[int, ...]]]:
    """(rows summed across programs, the sum of the programs' own rows), each keyed by
    (grain, segment, period, survey_type, value); rows with no count left out."""
    with store.engine.connect() as conn:
        found = conn.execute(select(*(ROLLUPS.c[c] for c in (*KEY, *COUNTS)))).all()
    summed: dict[tuple[object, ...], tuple[int, ...]] = {}
    added: dict[tuple[object, ...], tuple[int, ...]] = {}
    for row in found:
        key, program, counts = tuple(row[:5]), row[5], tuple(row[6:])
        if not any(counts):
            continue
        if program == ALL_PROGRAMS:
            summed[key] = counts
        else:
            before = added.get(key, (0,) * len(COUNTS))
            added[key] = tuple(a + b for a, b in zip(before, counts, strict=True))
    return summed, added


@pytest.mark.parametrize("seed_number", [1, 2, 3])
def test_summed_rows_equal_the_sum_of_the_programs_rows(store: Store, seed: Seeder,
                                                        seed_number: int) -> None:
    """Random surveys over five programs (two NPS, two CES): after the first build, and
    after re-scores, a late attribution, new surveys and `forget`, every summed row (scope
    rows included) equals the sum of its programs' rows, and a rebuild gives the same."""
    rng = random.Random(seed_number)
    ids = seed_many(seed, rng, 60)
    refresh(store, SCOPED, START)
    summed, added = split_rows(store)
    assert len(summed) > 100
    assert summed == added
    later = START + timedelta(days=90)
    for send_id in rng.sample(ids, 6):
        seed.answer(send_id, rng.randint(1, 5), later)  # every type's scale holds 1..5
    store.record_attribution({ids[2]: ("o9", "t9"), ids[3]: ("o8", "t8")}, later)
    seed_many(seed, rng, 10, later)  # sent after the cursors, as new surveys are
    rollups.refresh(store, SCOPED, later, thorough=True)
    store.forget("p5@example.com", later + timedelta(minutes=1))
    store.forget("p6@example.com", later + timedelta(minutes=1))
    summed, added = split_rows(store)
    assert summed == added
    rollups.rebuild(store, SCOPED, later + timedelta(minutes=2))
    assert split_rows(store) == (summed, added)


def figures(rows: list[Row]) -> list[tuple[object, ...]]:
    return [(r.period_start, r.segment_value, r.figures) for r in rows]


@pytest.mark.parametrize(("programs", "summed", "types"), [
    ((), True, ("ces", "csat", "nps")),
    (("nps-a", "nps-b"), True, ("nps",)),
    (("nps-a", "nps-b", "csat-a"), True, ("csat", "nps")),
    (("nps-a",), False, ("ces", "csat", "nps")),
    (("nps-a", "nps-b", "ces-a"), False, ("ces", "csat", "nps"))])
def test_whole_types_read_the_summed_rows_with_the_tables_figures(
        store: Store, seed: Seeder, programs: tuple[str, ...], summed: bool,
        types: tuple[str, ...]) -> None:
    """Every program of each type asked for: the summed rows of those types; part of a
    type's programs: the programs' own rows. Either way the figures of the tables, grouped
    or not, scoped or not; the picker values are the same."""
    seed_many(seed, random.Random(7), 90)
    refresh(store, SCOPED, START)
    north = Scope({"region": frozenset({"north"})})
    for segment, scope in (("owner", Scope.ALL), (None, Scope.ALL), ("team", north)):
        query = Query(since=SINCE, until=UNTIL, segment=segment, programs=programs,
                      scope=scope)
        with store.engine.connect() as conn:
            plan = rollup_queries._plan(conn, SCOPED, query)
        assert plan is not None
        assert (plan.programs == (ALL_PROGRAMS,), plan.types) == (summed, types)
        fast = report(store, SCOPED, query)
        assert len(fast) >= 5
        assert figures(fast) == figures(report(store, SCOPED, Query(
            since=SINCE, until=UNTIL, segment=segment, programs=programs, scope=scope,
            filters=EVERYTHING)))
    assert segment_values(store, SCOPED, "owner", north) == ["o1", "o2", "o3"]


def test_rollups_without_summed_rows_are_rebuilt_once(
        store: Store, seed: Seeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rollups counted by the previous format (VERSION 2, no summed rows) are not read:
    the report reads the tables until the next refresh, which rebuilds them once (the
    refresh after that moves nothing) with the summed rows."""
    seed_many(seed, random.Random(5), 30)
    query = Query(since=SINCE, until=UNTIL, segment="owner")
    with monkeypatch.context() as patch:
        patch.setattr(rollups, "VERSION", 2)
        refresh(store, SCOPED, START)
        with store.engine.begin() as conn:  # what the old format held: no summed rows
            conn.execute(ROLLUPS.delete().where(ROLLUPS.c.program == ALL_PROGRAMS))
        assert rollup_queries.read_cells(store, SCOPED, query, SINCE) is not None
    slow = report(store, SCOPED, query)
    assert rollup_queries.read_cells(store, SCOPED, query, SINCE) is None
    assert refresh(store, SCOPED, START) > 0
    assert refresh(store, SCOPED, START) == 0
    summed, added = split_rows(store)
    assert summed == added
    assert len(summed) > 0
    assert rollup_queries.read_cells(store, SCOPED, query, SINCE) is not None
    assert figures(report(store, SCOPED, query)) == figures(slow)


def test_migration_0021_empties_the_rollups_and_their_state(tmp_path: Path) -> None:
    """0027 -> 0021 recreates report_rollups (new key order) empty and clears the rollups'
    state, so the next refresh rebuilds them (with the summed rows)."""
    from alembic import command

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0027")
            conn.execute(text(
                "INSERT INTO report_rollups VALUES ('week', '', '2026-11-02', 'nps', '', "
                "'nps-a', " + ", ".join(["1"] * len(COUNTS)) + ")"))
            conn.execute(text("INSERT INTO cursors (source, name, value, updated_at) VALUES "
                              "('report', 'fingerprint', 'x', '2026-11-02 00:00:00')"))
        store.migrate()
        with store.engine.connect() as conn:
            left = (conn.scalar(text("SELECT count(*) FROM report_rollups")),
                    conn.scalar(text("SELECT count(*) FROM cursors WHERE source = 'report'")))
            key = conn.execute(text("PRAGMA index_info('sqlite_autoindex_report_rollups_1')")
                               ).all()
    finally:
        store.dispose()
    assert left == (0, 0)
    assert [r[2] for r in key] == ["grain", "segment", "program", "survey_type", "period",
                                   "value"]
