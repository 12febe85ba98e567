"""The report rollups: the same figures as the tables, moved correctly by a re-score, a
late attribution and `forget`, rebuilt when the reporting zone changes, cheap when nothing
changed, and not fooled by a transaction that commits late with an earlier time."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from insight.report_support import Seeder
from sqlalchemy import func, select

from closedloop.daemon.insight import rollups
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
from closedloop.daemon.store.reports import ALL_PROGRAMS, FACTS, ROLLUPS, SCOPES

OSLO = ReportingSettings(timezone="Europe/Oslo", segments={"region": "ticket.region"})
START = datetime(2026, 9, 28, 6, 0, tzinfo=UTC)  # a Monday
EVERYTHING = {"source": frozenset({"hubspot"})}  # a filter the rollups cannot answer


def figures(rows: list[Row]) -> list[tuple[object, ...]]:
    return [(r.period_start, r.segment_value, r.figures) for r in rows]


def seed_many(seed: Seeder, count: int = 80) -> None:
    rng = random.Random(4)
    for _ in range(count):
        kind = rng.choice(["nps", "nps", "csat", "ces"])
        sent = START + timedelta(hours=rng.randrange(0, 24 * 7 * 10))
        answered = rng.random() < 0.7
        high = {"nps": 10, "csat": 5, "ces": 7}[kind]
        low = 0 if kind == "nps" else 1
        seed.survey(sent_at=sent if rng.random() < 0.95 else None, program=kind,
                    survey_type=kind, team_id=rng.choice(["a", "b", None]),
                    segments={"region": rng.choice(["north", "south"])},
                    score=rng.randint(low, high) if answered else None,
                    answered_at=sent + timedelta(hours=rng.randrange(1, 60)))


NORTH = Scope({"region": frozenset({"north"})})


@pytest.mark.parametrize(("period", "segment", "scope"), [
    ("week", None, Scope.ALL), ("week", "team", Scope.ALL), ("month", "region", Scope.ALL),
    ("quarter", "program", Scope.ALL), ("week", None, NORTH), ("month", "region", NORTH),
    ("week", "program", Scope({"program": frozenset({"nps", "ces"})}))])
def test_rollups_give_the_figures_the_tables_give(store: Store, seed: Seeder, period: str,
                                                  segment: str | None, scope: Scope) -> None:
    """Whole periods answered from the rollups (also scoped to one segment's values) equal
    the same request read from the tables (forced by a filter that keeps every row)."""
    seed_many(seed)
    refresh(store, OSLO, START)
    since = {"week": date(2026, 9, 28), "month": date(2026, 10, 1),
             "quarter": date(2026, 10, 1)}[period]
    fast = report(store, OSLO, Query(since=since, until=date(2026, 12, 31), period=period,
                                     segment=segment, scope=scope))
    slow = report(store, OSLO, Query(since=since, until=date(2026, 12, 31), period=period,
                                     segment=segment, filters=EVERYTHING, scope=scope))
    assert len(fast) >= 3
    assert figures(fast) == figures(slow)
    if segment == "region" and scope is NORTH:
        assert {r.segment_value for r in fast} == {"north"}
    whole = Query(since=date(2026, 10, 1), until=date(2026, 12, 31), scope=scope)
    assert distribution(store, OSLO, whole) == distribution(
        store, OSLO, replace(whole, filters=EVERYTHING))
    assert segment_values(store, OSLO, "region", scope) == (
        ["north"] if scope is NORTH else ["north", "south"])


def rollup(store: Store, *columns: str) -> tuple[object, ...]:
    """The week's row of its one program, which its row summed across programs equals."""
    with store.engine.connect() as conn:
        own, summed = (conn.execute(select(*(ROLLUPS.c[c] for c in columns)).where(
            ROLLUPS.c.grain == "week", ROLLUPS.c.segment == "", ROLLUPS.c.program == program)
            ).one() for program in ("nps", ALL_PROGRAMS))
    assert tuple(summed) == tuple(own)
    return tuple(own)


def test_a_rescore_moves_the_counts(store: Store, seed: Seeder) -> None:
    """10 then 0 on the same survey: one answer, counted under 0 only."""
    sent = datetime(2026, 11, 3, 10, tzinfo=UTC)
    send_id = seed.survey(sent_at=sent, score=10, answered_at=sent)
    refresh(store, OSLO, sent)
    assert rollup(store, "sent", "answered", "n", "s10", "s0") == (1, 1, 1, 1, 0)
    seed.answer(send_id, 0, sent + timedelta(hours=1))
    refresh(store, OSLO, sent)
    assert rollup(store, "sent", "answered", "n", "s10", "s0") == (1, 1, 1, 0, 1)


def test_forget_takes_the_answer_out_of_the_rollups(store: Store, seed: Seeder) -> None:
    """After `forget` the survey still counts as sent, its answer nowhere: not in the
    rollups, not in report_facts; the report shows no answer."""
    sent = datetime(2026, 11, 3, 10, tzinfo=UTC)
    send_id = seed.survey(sent_at=sent, score=9, answered_at=sent, language="nb")
    refresh(store, OSLO, sent)
    store.forget(f"p{seed.count}@example.com", sent + timedelta(days=1))
    assert rollup(store, "sent", "answered", "n", "s9") == (1, 0, 0, 0)
    with store.engine.connect() as conn:
        fact = conn.execute(select(FACTS.c.score, FACTS.c.answered, FACTS.c.answer_day)
                            .where(FACTS.c.send_id == send_id)).one()
    assert tuple(fact) == (None, False, None)
    refresh(store, OSLO, sent + timedelta(days=1))
    (row,) = report(store, OSLO, Query(since=date(2026, 11, 2), until=date(2026, 11, 8),
                                       segment="language"))
    assert (row.segment_value, row.figures.sent, row.figures.answers) == ("", 1, 0)


def test_a_late_attribution_moves_the_answer(store: Store, seed: Seeder) -> None:
    """owner_at_answer read after the first refresh: the answer moves from "" to the owner."""
    sent = datetime(2026, 11, 3, 10, tzinfo=UTC)
    send_id = seed.survey(sent_at=sent, score=9, answered_at=sent)
    refresh(store, OSLO, sent)
    query = Query(since=date(2026, 11, 2), until=date(2026, 11, 8), segment="owner_at_answer")
    assert [r.segment_value for r in report(store, OSLO, query)] == [""]
    store.record_attribution({send_id: ("o7", "t1")}, sent + timedelta(minutes=10))
    refresh(store, OSLO, sent + timedelta(minutes=10))
    assert [r.segment_value for r in report(store, OSLO, query)] == ["o7"]


def test_a_new_zone_rebuilds_the_rollups(store: Store, seed: Seeder) -> None:
    """Sunday 23:30 UTC is Monday 00:30 in Oslo: the week changes with the zone."""
    moment = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    seed.survey(sent_at=moment, score=9, answered_at=moment)
    query = Query(since=date(2026, 11, 2), until=date(2026, 11, 15))
    utc = ReportingSettings(timezone="UTC")
    refresh(store, utc, moment)
    assert [r.period_start for r in report(store, utc, query)] == [date(2026, 11, 2)]
    refresh(store, OSLO, moment)
    assert [r.period_start for r in report(store, OSLO, query)] == [date(2026, 11, 9)]


def test_refresh_is_cheap_and_sees_late_commits(store: Store, seed: Seeder) -> None:
    """Nothing new: refresh moves nothing. An answer committed late with a time just behind
    the cursor is missed by the quick check and found by the scheduled (thorough) run."""
    sent = datetime(2026, 11, 3, 10, tzinfo=UTC)
    seed.survey(sent_at=sent, score=9, answered_at=sent + timedelta(minutes=10))
    late = seed.survey(sent_at=sent)
    refresh(store, OSLO, sent)
    assert refresh(store, OSLO, sent) == 0
    seed.answer(late, 3, sent + timedelta(minutes=8))  # two minutes behind the cursor
    assert refresh(store, OSLO, sent) == 0
    assert rollups.refresh(store, OSLO, sent, thorough=True) > 0
    assert rollup(store, "sent", "answered", "n", "s3") == (2, 2, 2, 1)


def test_scope_levels_are_indexed_with_the_same_answers(store: Store, seed: Seeder) -> None:
    """With `[reporting] scope = ["region"]` a region viewer's requests the rollups cannot
    answer (grouped by team) read the surveys through report_scopes: the same rows, comments
    and picker values as without the index, and one scope row per counted survey."""
    seed_many(seed)
    indexed = ReportingSettings(timezone="Europe/Oslo", scope=("region",),
                                segments={"region": "ticket.region"})
    query = Query(since=date(2026, 9, 28), until=date(2026, 12, 31), segment="team",
                  scope=NORTH)
    refresh(store, indexed, START)
    with store.engine.connect() as conn:
        counts = (conn.scalar(select(func.count()).select_from(FACTS)),
                  conn.scalar(select(func.count()).select_from(SCOPES)))
    fast = (figures(report(store, indexed, query)), latest_comments(store, indexed, query),
            segment_values(store, indexed, "team", NORTH))
    refresh(store, OSLO, START)  # no scope levels: the fingerprint changes, no index used
    slow = (figures(report(store, OSLO, query)), latest_comments(store, OSLO, query),
            segment_values(store, OSLO, "team", NORTH))
    assert counts[0] == counts[1] > 0
    assert fast == slow
    assert len(fast[0]) > 3
