"""Rollups per scope value: a region or store viewer's grouped report, distribution and
picker values read rollups counted within their scope value, give the figures the tables
give, never count another store's answers, and are moved exactly by a re-score, a late
attribution and `forget` (the incremental rows equal a rebuild's)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from insight.report_support import Seeder
from sqlalchemy import select

from closedloop.daemon.insight import direct, rollup_queries, rollups
from closedloop.daemon.insight.report import (
    Query,
    Row,
    Scope,
    distribution,
    latest_comments,
    refresh,
    report,
    segment_values,
)
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.reports import COUNTS, KEY, ROLLUPS, cross_segment

SCOPED = ReportingSettings(timezone="Europe/Oslo", scope=("region", "store"),
                           segments={"region": "ticket.region", "store": "ticket.store"})
START = datetime(2026, 9, 28, 6, 0, tzinfo=UTC)  # a Monday
EVERYTHING = {"source": frozenset({"hubspot"})}  # a third restriction: read the tables
STORES = {"oslo": "north", "bergen": "north", "lisboa": "south"}
NORTH = Scope({"region": frozenset({"north"})})
OSLO = Scope({"store": frozenset({"oslo"})})


def figures(rows: list[Row]) -> list[tuple[object, ...]]:
    return [(r.period_start, r.segment_value, r.figures) for r in rows]


def seed_many(seed: Seeder, count: int = 90) -> list[int]:
    rng = random.Random(9)
    ids = []
    for _ in range(count):
        kind = rng.choice(["nps", "nps", "csat"])
        store_name = rng.choice(sorted(STORES))
        sent = START + timedelta(hours=rng.randrange(0, 24 * 7 * 10))
        answered = rng.random() < 0.7
        ids.append(seed.survey(
            sent_at=sent, program=kind, survey_type=kind,
            team_id=rng.choice(["a", "b", None]), owner_id=rng.choice(["o1", "o2"]),
            segments={"region": STORES[store_name], "store": store_name},
            score=rng.randint(0 if kind == "nps" else 1, 10 if kind == "nps" else 5)
            if answered else None,
            answered_at=sent + timedelta(hours=rng.randrange(1, 60))))
    return ids


def from_rollups(store: Store, query: Query) -> bool:
    first = query.since - timedelta(days=40)
    return rollup_queries.read_cells(store, SCOPED, query, first) is not None


@pytest.mark.parametrize(("segment", "scope", "filters"), [
    ("team", NORTH, {}), ("owner", OSLO, {}), ("store", NORTH, {}),
    (None, NORTH, {"team": frozenset({"a"})}), ("team", OSLO, {"team": frozenset({"b"})}),
    ("program", Scope({"region": frozenset({"north", "south"})}), {})])
def test_scoped_groupings_read_rollups_with_the_tables_figures(
        store: Store, seed: Seeder, segment: str | None, scope: Scope,
        filters: dict[str, frozenset[str]]) -> None:
    """Scope level + one other segment (grouped or filtered) is answered by the rollups,
    and equals the same request read from the tables."""
    seed_many(seed)
    refresh(store, SCOPED, START)
    query = Query(since=date(2026, 9, 28), until=date(2026, 12, 31), segment=segment,
                  scope=scope, filters=filters)
    slow_query = replace(query, filters={**filters, **EVERYTHING})
    assert from_rollups(store, query) is True
    assert from_rollups(store, slow_query) is False
    fast = report(store, SCOPED, query)
    assert len(fast) >= 3
    assert figures(fast) == figures(report(store, SCOPED, slow_query))
    month = replace(query, since=date(2026, 10, 1), period="month")
    assert distribution(store, SCOPED, month) == distribution(
        store, SCOPED, replace(month, filters={**filters, **EVERYTHING}))


def test_picker_values_stay_in_scope(store: Store, seed: Seeder) -> None:
    """A region sees the stores and teams of its region only; a store its own."""
    seed_many(seed)
    refresh(store, SCOPED, START)
    assert segment_values(store, SCOPED, "store", NORTH) == ["bergen", "oslo"]
    assert segment_values(store, SCOPED, "store", OSLO) == ["oslo"]
    assert segment_values(store, SCOPED, "team", OSLO) == ["a", "b"]
    assert segment_values(store, SCOPED, "store", Scope(
        {"region": frozenset({"south"})})) == ["lisboa"]


def test_a_store_never_counts_another_store(store: Store, seed: Seeder) -> None:
    """Same team in two stores: the oslo viewer's team row holds oslo's answer only."""
    sent = datetime(2026, 11, 3, 10, tzinfo=UTC)
    seed.survey(sent_at=sent, score=10, team_id="a",
                segments={"region": "north", "store": "oslo"})
    seed.survey(sent_at=sent, score=0, team_id="a",
                segments={"region": "north", "store": "bergen"})
    seed.survey(sent_at=sent, team_id="a", segments={"region": "north", "store": "bergen"})
    refresh(store, SCOPED, sent)
    query = Query(since=date(2026, 11, 2), until=date(2026, 11, 8), segment="team",
                  scope=OSLO)
    assert from_rollups(store, query) is True
    (row,) = report(store, SCOPED, query)
    assert (row.segment_value, row.figures.sent, row.figures.answers, row.figures.score) == (
        "a", 1, 1, 100.0)
    (north,) = report(store, SCOPED, replace(query, scope=NORTH))
    assert (north.figures.sent, north.figures.answers, north.figures.score) == (3, 2, 0.0)


def rows_of(store: Store) -> set[tuple[object, ...]]:
    """Every rollup row with a count, as (key..., counts...)."""
    with store.engine.connect() as conn:
        found = conn.execute(select(*(ROLLUPS.c[c] for c in (*KEY, *COUNTS)))).all()
    return {tuple(r) for r in found if any(r[len(KEY):])}


def test_incremental_moves_equal_a_rebuild(store: Store, seed: Seeder) -> None:
    """Re-scores, a late attribution, new surveys and `forget` after the first build: the
    rollups (scope rows included) equal a rebuild from the tables."""
    ids = seed_many(seed, 40)
    refresh(store, SCOPED, START)
    later = START + timedelta(days=80)
    seed.answer(ids[0], 0, later)
    seed.answer(ids[1], 10, later)
    store.record_attribution({ids[2]: ("o9", "t9")}, later)
    seed.survey(sent_at=later, score=7, team_id="a",
                segments={"region": "south", "store": "lisboa"})
    rollups.refresh(store, SCOPED, later, thorough=True)
    store.forget("p3@example.com", later + timedelta(minutes=1))
    incremental = rows_of(store)
    assert any(str(r[1]).startswith("team@store=") for r in incremental)
    rollups.rebuild(store, SCOPED, later + timedelta(minutes=2))
    assert incremental == rows_of(store)


def test_long_scope_values_fit_the_segment_column() -> None:
    """A key longer than 64 characters becomes a digest: same input, same key, no clash."""
    long_value = "x" * 80
    key = cross_segment("store", long_value, "team")
    assert len(key) <= 64
    assert key == cross_segment("store", long_value, "team")
    assert key != cross_segment("store", long_value + "y", "team")
    assert cross_segment("store", "oslo", "team") == "team@store=oslo"


def test_broad_scopes_walk_the_answer_time_index_with_the_same_comments(
        store: Store, seed: Seeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A region holding many answers reads its latest comments testing the scope on each of
    the newest answers (no report_scopes join): the same comments, in the same order, as
    a small scope's plan (threshold lowered so a test-sized region counts as broad)."""
    rng = random.Random(3)
    for i in range(60):
        store_name = rng.choice(sorted(STORES))
        sent = START + timedelta(hours=i * 7)
        seed.survey(sent_at=sent, score=rng.randint(0, 10), comment=f"comment {i}",
                    answered_at=sent + timedelta(hours=1),
                    segments={"region": STORES[store_name], "store": store_name})
    refresh(store, SCOPED, START)
    query = Query(since=date(2026, 9, 28), until=date(2026, 12, 31), scope=NORTH)
    with store.engine.connect() as conn:
        assert direct._broad(conn, SCOPED, query) is False
    narrow = latest_comments(store, SCOPED, query, limit=20)
    monkeypatch.setattr(direct, "BROAD_MIN", 1)
    with store.engine.connect() as conn:
        assert direct._broad(conn, SCOPED, query) is True
    broad = latest_comments(store, SCOPED, query, limit=20)
    assert len(narrow) == 20
    assert broad == narrow
    assert {c.segments["region"] for c in broad} == {"north"}
