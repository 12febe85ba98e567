"""Theme rollups (insight/themes/rollups.py): kept by the themes refresh, equal to a recount
from the tables after random answers, edits, re-scores and `forget`; read by theme_report
for whole weeks and months with the dashboard's Scope, which never lets a store see another
store's themes or quotes. On SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from report_support import Seeder
from sqlalchemy import select

from closedloop.daemon.insight.periods import day_start
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.rollups import refresh
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import (
    ThemeMatcher,
    default_themes,
    fast,
    refresh_themes,
    rollups,
)
from closedloop.daemon.insight.themes.report import ThemeRow, theme_report
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.theme_counts import ROLLUPS
from closedloop.daemon.surveys import SurveyType, category

ZONE = ZoneInfo("Europe/Oslo")
SETTINGS = ReportingSettings(timezone="Europe/Oslo",
                             segments={"region": "ticket.region", "store": "ticket.store"},
                             scope=("region", "store"))
MATCHER = ThemeMatcher(default_themes())
STORES = {"oslo": "north", "bergen": "north", "stavanger": "south"}
COMMENTS = ["The delivery was late", "Rude staff at the till", "Great price, fast delivery",
            "Thanks!", "", None, "The parcel never arrived, refund please",
            "Friendly staff but slow delivery", "Too expensive", "Livraison en retard"]
MONDAY = date(2026, 11, 2)
START = datetime(2026, 10, 5, 12, 0, tzinfo=ZONE)  # five weeks before MONDAY
LATER = datetime(2027, 1, 1, tzinfo=ZONE)
OSLO = Scope({"store": frozenset({"oslo"})})
NORTH = Scope({"region": frozenset({"north"})})


def _seed(store: Store, n: int, seed: int) -> tuple[Seeder, list[int]]:
    rng = random.Random(seed)
    seeder, ids = Seeder(store), []
    for _ in range(n):
        name = rng.choice(sorted(STORES))
        at = START + timedelta(hours=rng.randrange(0, 24 * 56))
        kind = rng.choice(["nps", "csat"])
        score = rng.randrange(0, 11) if kind == "nps" else rng.randrange(1, 6)
        ids.append(seeder.survey(sent_at=at, answered_at=at, score=score, survey_type=kind,
                                 program=kind, comment=rng.choice(COMMENTS),
                                 segments={"region": STORES[name], "store": name}))
    return seeder, ids


def _rows(store: Store) -> list[tuple[Any, ...]]:
    """Every non-empty rollup row."""
    with reading(store.engine) as conn:
        return sorted(tuple(r) for r in conn.execute(select(ROLLUPS).where(ROLLUPS.c.answers > 0)))


def _recounted(store: Store) -> list[tuple[Any, ...]]:
    rollups.rebuild(store, SETTINGS, MATCHER.fingerprint, LATER)
    return _rows(store)


def _report(store: Store, since: date, until: date, viewer: Scope,
            slow: bool = False) -> list[ThemeRow]:
    if slow:
        with store.engine.begin() as conn:
            rollups.invalidate(conn)
    try:
        return theme_report(store, since=day_start(since, ZONE), until=day_start(until, ZONE),
                            settings=SETTINGS, viewer=viewer, themes=MATCHER.themes)
    finally:
        if slow:
            rollups.rebuild(store, SETTINGS, MATCHER.fingerprint, LATER)


def test_incremental_counts_equal_a_recount_of_random_answers(store: Store) -> None:
    """Answers refreshed in small batches (several runs) leave exactly the rows a rebuild
    from the tables counts."""
    _seed(store, 120, seed=9)
    refresh_themes(store, MATCHER, LATER, batch=17, reporting=SETTINGS)
    incremental = _rows(store)
    assert incremental != []
    assert incremental == _recounted(store)


def test_edits_rescores_and_forget_move_exactly_their_counts(store: Store) -> None:
    """An edited comment, a re-score (unhappy -> happy) and `forget` after the first refresh:
    the next refresh (forget: at once) leaves the rows a recount gives."""
    _, ids = _seed(store, 60, seed=4)
    refresh_themes(store, MATCHER, LATER, reporting=SETTINGS)
    moment = LATER + timedelta(minutes=1)
    for send_id in ids[:10]:
        store.record_comment(send_id, "Rude staff, late delivery", moment)
    for send_id in ids[10:20]:
        store.record_response(send_id, 10, category(SurveyType("nps"), 10), moment)
    store.forget("p21@example.com", moment)
    store.forget("p22@example.com", moment)
    refresh_themes(store, MATCHER, moment + timedelta(minutes=1), reporting=SETTINGS)
    assert _rows(store) == _recounted(store)


def test_whole_weeks_and_months_read_the_rollups_and_agree_with_the_tables(
        store: Store) -> None:
    """For HQ, a region and a store: two whole weeks from the rollups equal the table count
    (previous period included); a whole month agrees on counts, shares and lift."""
    _seed(store, 150, seed=1)
    refresh_themes(store, MATCHER, LATER, reporting=SETTINGS)
    weeks = (MONDAY, MONDAY + timedelta(days=14))
    month = (date(2026, 10, 1), date(2026, 11, 1))
    for viewer in (Scope.ALL, NORTH, OSLO):
        assert fast.counts(store, SETTINGS, day_start(weeks[0], ZONE),
                           day_start(weeks[1], ZONE), (), viewer, None) is not None
        assert _report(store, *weeks, viewer) == _report(store, *weeks, viewer, slow=True)
        quick = _report(store, *month, viewer)
        assert [(r.theme, r.count, r.low, r.share, r.lift, r.quotes) for r in quick] == [
            (r.theme, r.count, r.low, r.share, r.lift, r.quotes)
            for r in _report(store, *month, viewer, slow=True)]


def test_a_window_not_of_whole_periods_is_counted_from_the_tables(store: Store) -> None:
    """Tuesday to Tuesday is not whole weeks: no rollup answer (edge: Monday to Monday is)."""
    _seed(store, 20, seed=2)
    refresh_themes(store, MATCHER, LATER, reporting=SETTINGS)
    tuesday = MONDAY + timedelta(days=1)
    assert fast.counts(store, SETTINGS, day_start(tuesday, ZONE),
                       day_start(tuesday + timedelta(days=7), ZONE), (), OSLO, None) is None
    assert fast.counts(store, SETTINGS, day_start(MONDAY, ZONE),
                       day_start(MONDAY + timedelta(days=7), ZONE), (), OSLO, None) is not None


def test_a_store_never_sees_another_stores_themes_or_quotes(store: Store) -> None:
    """Bergen's complaints about staff are not counted or quoted for Oslo; HQ sees both."""
    seeder = Seeder(store)
    at = day_start(MONDAY, ZONE) + timedelta(hours=10)
    seeder.survey(sent_at=at, answered_at=at, score=1, comment="Rude staff in Bergen",
                  segments={"region": "north", "store": "bergen"})
    seeder.survey(sent_at=at, answered_at=at, score=2, comment="Slow delivery from Oslo",
                  segments={"region": "north", "store": "oslo"})
    refresh_themes(store, MATCHER, LATER, reporting=SETTINGS)
    week = (MONDAY, MONDAY + timedelta(days=7))
    seen = {r.theme: [q.text for q in r.quotes] for r in _report(store, *week, OSLO)}
    assert seen["delivery"] == ["Slow delivery from Oslo"]
    assert [t for t, quotes in seen.items() if t == "staff" or quotes != [
        "Slow delivery from Oslo"]] == []
    everyone = {r.theme for r in _report(store, *week, Scope.ALL)}
    assert {"delivery", "staff"} <= everyone


def test_a_large_scopes_quotes_are_sifted_to_the_same_answers(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scope above fast.LARGE surveys (here: any) walks the newest answers and sifts
    them in report_scopes: the same rows and quotes as the lookup from the scope's surveys,
    and never another region's comment."""
    _seed(store, 150, seed=5)
    refresh(store, SETTINGS, LATER)  # report_scopes: the indexed scope levels
    refresh_themes(store, MATCHER, LATER, reporting=SETTINGS)
    weeks = (MONDAY, MONDAY + timedelta(days=14))
    looked_up = _report(store, *weeks, NORTH)
    monkeypatch.setattr(fast, "LARGE", 0)
    sifted = _report(store, *weeks, NORTH)
    assert sifted == looked_up
    assert sifted != []
