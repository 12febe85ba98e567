"""The report API on a real store (SQLite and PostgreSQL): periods cut in the reporting
zone on both sides of each edge, response rates that ignore reminders, the change against
the previous period, scopes applied in SQL, and a clear ReportError for each bad request."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from closedloop.daemon.insight.report import (
    Query,
    ReportError,
    Scope,
    distribution,
    latest_comments,
    refresh,
    report,
    segment_values,
)
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from insight.report_support import Seeder

OSLO = ReportingSettings(timezone="Europe/Oslo", small_sample=2,
                         segments={"region": "ticket.region", "store": "ticket.store"})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def run(store: Store, query: Query, settings: ReportingSettings = OSLO) -> list[tuple[object, ...]]:
    refresh(store, settings, datetime.now(UTC))
    return [(r.period_start, r.segment_value, r.figures.survey_type, r.figures.answers,
             r.figures.score) for r in report(store, settings, query)]


def test_week_edges_in_the_reporting_zone(store: Store, seed: Seeder) -> None:
    """Sunday 23:30 local counts in its week, Monday 00:30 in the next, also across the DST
    change of 25 October 2026 (UTC+2 before, UTC+1 after)."""
    for moment, score in (("2026-10-18T23:30+02:00", 0), ("2026-10-19T00:30+02:00", 10),
                          ("2026-10-25T23:30+01:00", 10), ("2026-10-26T00:30+01:00", 0),
                          ("2026-11-08T23:30+01:00", 9), ("2026-11-09T00:30+01:00", 3)):
        seed.survey(sent_at=at(moment) - timedelta(hours=1), score=score, answered_at=at(moment))
    rows = run(store, Query(since=date(2026, 10, 12), until=date(2026, 11, 15)))
    assert rows == [
        (date(2026, 10, 12), None, "nps", 1, -100.0),
        (date(2026, 10, 19), None, "nps", 2, 100.0),
        (date(2026, 10, 26), None, "nps", 1, -100.0),
        (date(2026, 11, 2), None, "nps", 1, 100.0),
        (date(2026, 11, 9), None, "nps", 1, -100.0),
    ]


def test_quarter_and_month_edges(store: Store, seed: Seeder) -> None:
    """30 September 23:30 local is Q3, 1 October 00:30 local is Q4 (both 30 September in UTC)."""
    seed.survey(sent_at=at("2026-09-30T20:00+02:00"), score=10,
                answered_at=at("2026-09-30T23:30+02:00"))
    seed.survey(sent_at=at("2026-09-30T20:00+02:00"), score=0,
                answered_at=at("2026-10-01T00:30+02:00"))
    query = Query(since=date(2026, 7, 1), until=date(2026, 12, 31), period="quarter")
    assert run(store, query) == [(date(2026, 7, 1), None, "nps", 1, 100.0),
                                 (date(2026, 10, 1), None, "nps", 1, -100.0)]
    monthly = Query(since=date(2026, 9, 1), until=date(2026, 10, 31), period="month")
    assert run(store, monthly) == [(date(2026, 9, 1), None, "nps", 1, 100.0),
                                   (date(2026, 10, 1), None, "nps", 1, -100.0)]


def test_response_rate_ignores_reminders(store: Store, seed: Seeder) -> None:
    """Four surveys sent (one got a reminder, answered after it): sent 4, answered 2, 50 %.
    The reminder is not a survey; the answer to it counts for its survey."""
    sent = at("2026-11-03T10:00+01:00")
    reminded = seed.survey(sent_at=sent, reminders=(timedelta(days=2),))
    seed.survey(sent_at=sent, score=9)
    seed.survey(sent_at=sent)
    seed.survey(sent_at=sent)
    reminder = store.claim_due_sends(sent + timedelta(days=3), 10, timedelta(minutes=5))
    assert [r.parent_id for r in reminder] == [reminded]
    store.mark_sent(reminder[0].id, sent + timedelta(days=2), "m-reminder")
    seed.answer(reminded, 4, sent + timedelta(days=2, hours=1))
    refresh(store, OSLO, sent)
    (row,) = report(store, OSLO, Query(since=date(2026, 11, 2), until=date(2026, 11, 8)))
    assert (row.figures.sent, row.figures.answered, row.figures.answers,
            row.figures.response_rate) == (4, 2, 2, 0.5)


def test_change_against_the_previous_period(store: Store, seed: Seeder) -> None:
    """Each week's change is its score minus the week before's, including the week before
    `since` (read but not listed); a week without answers has no change."""
    seed.survey(sent_at=at("2026-10-27T10:00+01:00"), score=10)  # week of 26 Oct: +100
    seed.survey(sent_at=at("2026-11-03T10:00+01:00"), score=0)  # week of 2 Nov: -100
    seed.survey(sent_at=at("2026-11-10T10:00+01:00"), score=8)  # week of 9 Nov: 0
    refresh(store, OSLO, T_NOW)
    rows = report(store, OSLO, Query(since=date(2026, 11, 2), until=date(2026, 11, 15)))
    assert [(r.period_start, r.figures.change) for r in rows] == [
        (date(2026, 11, 2), -200.0), (date(2026, 11, 9), 100.0)]


T_NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_small_sample_both_sides(store: Store, seed: Seeder) -> None:
    """small_sample = 2: one answer is flagged, two are not."""
    seed.survey(sent_at=at("2026-11-03T10:00+01:00"), score=10)
    seed.survey(sent_at=at("2026-11-10T10:00+01:00"), score=10)
    seed.survey(sent_at=at("2026-11-10T11:00+01:00"), score=10)
    refresh(store, OSLO, T_NOW)
    rows = report(store, OSLO, Query(since=date(2026, 11, 2), until=date(2026, 11, 15)))
    assert [(r.figures.answers, r.figures.small_sample) for r in rows] == [(1, True), (2, False)]


def test_scope_is_applied_in_sql_even_grouped_by_another_segment(
        store: Store, seed: Seeder) -> None:
    """A viewer scoped to store oslo, grouped by owner, sees only oslo's owners; a filter
    narrows further; segment_values and comments honour the scope too."""
    when = at("2026-11-03T10:00+01:00")
    seed.survey(sent_at=when, score=10, owner_id="ann", segments={"store": "oslo"},
                comment="great")
    seed.survey(sent_at=when, score=0, owner_id="bob", segments={"store": "oslo"},
                comment="slow")
    seed.survey(sent_at=when, score=0, owner_id="eve", segments={"store": "bergen"},
                comment="bad")
    scope = Scope({"store": frozenset({"oslo"})})
    base = Query(since=date(2026, 11, 2), until=date(2026, 11, 8), segment="owner", scope=scope)
    assert run(store, base) == [(date(2026, 11, 2), "ann", "nps", 1, 100.0),
                                (date(2026, 11, 2), "bob", "nps", 1, -100.0)]
    narrowed = Query(since=base.since, until=base.until, segment="owner", scope=scope,
                     filters={"owner": frozenset({"bob", "eve"})})
    assert run(store, narrowed) == [(date(2026, 11, 2), "bob", "nps", 1, -100.0)]
    assert segment_values(store, OSLO, "owner", scope) == ["ann", "bob"]
    assert segment_values(store, OSLO, "store", Scope.ALL) == ["bergen", "oslo"]
    comments = latest_comments(store, OSLO, base)
    assert [(c.comment, c.segments["store"], c.segments["owner"]) for c in comments] == [
        ("slow", "oslo", "bob"), ("great", "oslo", "ann")]
    assert [c.comment for c in latest_comments(store, OSLO, base, categories=("promoter",))
            ] == ["great"]
    nobody = Scope({"store": frozenset()})
    assert run(store, Query(since=base.since, until=base.until, scope=nobody)) == []


def test_distribution_lists_every_scale_point(store: Store, seed: Seeder) -> None:
    """Scores per type over the whole range, zeros included (what a bar chart draws)."""
    when = at("2026-11-03T10:00+01:00")
    seed.survey(sent_at=when, score=9)
    seed.survey(sent_at=when, score=9)
    seed.survey(sent_at=when, score=2, program="csat", survey_type="csat")
    refresh(store, OSLO, T_NOW)
    got = distribution(store, OSLO, Query(since=date(2026, 11, 1), until=date(2026, 11, 30)))
    assert got == {"csat": {1: 0, 2: 1, 3: 0, 4: 0, 5: 0},
                   "nps": {**dict.fromkeys(range(11), 0), 9: 2}}


@pytest.mark.parametrize(("query", "message"), [
    (Query(since=date(2026, 11, 9), until=date(2026, 11, 8)),
     "since (2026-11-09) is after until (2026-11-08); the period is empty"),
    (Query(since=date(2026, 11, 1), until=date(2026, 11, 8), segment="shop"),
     "unknown segment 'shop'; expected one of: program, source, language, pipeline, brand, "
     "team, group, owner, organization, owner_at_answer, team_at_answer, group_at_answer, "
     "region, store"),
    (Query(since=date(2026, 11, 1), until=date(2026, 11, 8), filters={"shop": frozenset("x")}),
     "unknown filter segment 'shop'; expected one of: program, source, language, pipeline, "
     "brand, team, group, owner, organization, owner_at_answer, team_at_answer, "
     "group_at_answer, region, store"),
    (Query(since=date(2026, 11, 1), until=date(2026, 11, 8), programs=("nope",)),
     "unknown program 'nope'; expected one of: nps"),
])
def test_bad_requests_say_what_is_wrong(store: Store, seed: Seeder, query: Query,
                                        message: str) -> None:
    """Each bad request raises ReportError naming the problem and the valid choices."""
    seed.survey(sent_at=at("2026-11-03T10:00+01:00"), score=9)
    with pytest.raises(ReportError) as info:
        report(store, OSLO, query)
    assert str(info.value) == message


def test_latest_comments_pages_across_unhappy_and_happy(store: Store, seed: Seeder) -> None:
    """Unhappy first (newest first within), then the others; a page may straddle both;
    without unhappy_first, newest first whatever the score. No comment, no row."""
    base = at("2026-11-03T10:00+01:00")
    for hours, score in ((1, 2), (2, 10), (3, 0), (4, 9), (5, 5), (6, 8)):
        seed.survey(sent_at=base, score=score, answered_at=base + timedelta(hours=hours),
                    comment=f"c{hours}" if score != 8 else None)
    query = Query(since=date(2026, 11, 2), until=date(2026, 11, 8))
    assert [c.comment for c in latest_comments(store, OSLO, query)] == [
        "c5", "c3", "c1", "c4", "c2"]
    assert [c.comment for c in latest_comments(store, OSLO, query, limit=2, offset=2)] == [
        "c1", "c4"]
    assert [c.comment for c in latest_comments(store, OSLO, query, unhappy_first=False,
                                                limit=3)] == ["c5", "c4", "c3"]
