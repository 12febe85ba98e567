"""response_themes kept current (new, edited, forgotten answers; dictionary change) and the
report's counts, shares, lift, trend, quotes and scope, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from themes_support import answer, stored

from closedloop.daemon.insight.themes import (
    Theme,
    ThemeMatcher,
    UnknownSegment,
    default_themes,
    refresh_themes,
    theme_report,
)
from closedloop.daemon.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)
MATCHER = ThemeMatcher(default_themes())


def test_refresh_assigns_new_answers_once(store: Store) -> None:
    """Each answer's themes are stored; a second run reads nothing new."""
    a = answer(store, "a", 2, "unsatisfied", "The delivery was late", T0)
    b = answer(store, "b", 5, "satisfied", "Thanks!", T0)
    c = answer(store, "c", 4, "satisfied", None, T0)
    first = refresh_themes(store, MATCHER, LATER)
    assert (first.responses, first.themed) == (3, 1)
    assert stored(store) == {a: {"delivery", "wait_time"}}
    assert refresh_themes(store, MATCHER, LATER).responses == 0
    assert {b, c} & set(stored(store)) == set()


def test_refresh_leaves_answers_changed_within_the_lag(store: Store) -> None:
    """An answer changed less than the lag ago waits for the next run (a transaction stamped
    earlier may still commit behind it); at exactly the lag it is taken."""
    rid = answer(store, "a", 2, "unsatisfied", "Refund please", T0)
    lag = timedelta(seconds=5)
    assert refresh_themes(store, MATCHER, T0 + lag - timedelta(microseconds=1), lag=lag
                          ).responses == 0
    assert refresh_themes(store, MATCHER, T0 + lag, lag=lag).responses == 1
    assert stored(store) == {rid: {"refund_return"}}


def test_an_edited_comment_is_assigned_again(store: Store) -> None:
    """A new comment on the same response replaces its themes (rows of the old one go)."""
    rid = answer(store, "a", 2, "unsatisfied", "The delivery was late", T0)
    refresh_themes(store, MATCHER, LATER)
    send_id = _send_of(store, rid)
    store.record_comment(send_id, "Refund took ages", LATER)
    result = refresh_themes(store, MATCHER, LATER + timedelta(minutes=1))
    assert result.responses == 1
    assert stored(store) == {rid: {"refund_return", "wait_time"}}


def test_forget_deletes_the_persons_theme_rows(store: Store) -> None:
    """`closedloop forget` deletes the response, and its theme rows with it."""
    mine = answer(store, "me", 1, "unsatisfied", "Rude staff", T0, email="me@example.com")
    other = answer(store, "you", 1, "unsatisfied", "Rude staff", T0)
    refresh_themes(store, MATCHER, LATER)
    assert set(stored(store)) == {mine, other}
    store.forget("me@example.com", LATER)
    assert set(stored(store)) == {other}


def test_a_new_dictionary_assigns_every_answer_again(store: Store) -> None:
    """Another `[themes]` config (another fingerprint) redoes every answer under it."""
    rid = answer(store, "a", 2, "unsatisfied", "The warranty was refused", T0)
    refresh_themes(store, MATCHER, LATER)
    assert stored(store) == {}
    custom = ThemeMatcher((*default_themes(), Theme("warranty", "Warranty",
                                                    {"en": ("warranty",)})))
    result = refresh_themes(store, custom, LATER)
    assert (result.responses, result.restarted) == (1, True)
    assert stored(store) == {rid: {"warranty"}}


def _send_of(store: Store, response_id: int) -> int:
    from sqlalchemy import select

    from closedloop.daemon.store.tables import Base

    responses = Base.metadata.tables["responses"]
    with store.engine.connect() as conn:
        send_id = conn.scalar(select(responses.c.send_id).where(responses.c.id == response_id))
    assert send_id is not None
    return int(send_id)


def _report_data(store: Store) -> None:
    """Period [T0, T0+7d): 4 commented answers (2 unhappy), 1 without comment; the week
    before: 2 commented answers about delivery."""
    answer(store, "p1", 3, "unsatisfied", "Delivery took two weeks", T0 - timedelta(days=3))
    answer(store, "p2", 5, "satisfied", "Fast delivery", T0 - timedelta(days=6))
    answer(store, "c1", 1, "unsatisfied", "The parcel never arrived, refund please",
           T0 + timedelta(days=1), team_id="store-1")
    answer(store, "c2", 2, "unsatisfied", "Rude staff", T0 + timedelta(days=2),
           team_id="store-2")
    answer(store, "c3", 5, "satisfied", "Delivery on time, thanks", T0 + timedelta(days=3),
           team_id="store-1")
    answer(store, "c4", 5, "satisfied", "Great", T0 + timedelta(days=4), team_id="store-1")
    answer(store, "c5", 1, "unsatisfied", None, T0 + timedelta(days=5), team_id="store-1")
    refresh_themes(store, MATCHER, T0 + timedelta(days=8))


def test_report_counts_shares_lift_and_trend(store: Store) -> None:
    """Delivery: 2 of 4 commented answers (50 %), 1 unhappy of 2 (50 %) against 2 of 4
    overall (lift 1.0); the week before it was 2 of 2. Rude staff: 1 of 1 unhappy, lift 2."""
    _report_data(store)
    rows = theme_report(store, since=T0, until=T0 + timedelta(days=7),
                        themes=MATCHER.themes)
    by_name = {r.theme: r for r in rows}
    delivery = by_name["delivery"]
    assert (delivery.count, delivery.share, delivery.low, delivery.low_share, delivery.lift
            ) == (2, 0.5, 1, 0.5, 1.0)
    assert (delivery.previous_count, delivery.previous_share, delivery.change) == (2, 1.0, -0.5)
    staff = by_name["staff"]
    assert (staff.count, staff.low_share, staff.lift, staff.base) == (1, 1.0, 2.0, 4)
    assert rows[0].theme == "delivery"  # most frequent first


def test_report_period_edges(store: Store) -> None:
    """An answer at `since` is in the period, one at `until` is not."""
    answer(store, "in", 2, "unsatisfied", "Refund", T0)
    answer(store, "out", 2, "unsatisfied", "Refund", T0 + timedelta(days=1))
    refresh_themes(store, MATCHER, T0 + timedelta(days=2))
    [row] = theme_report(store, since=T0, until=T0 + timedelta(days=1))
    assert (row.theme, row.count, row.previous_count) == ("refund_return", 1, 0)
    [row] = theme_report(store, since=T0 + timedelta(microseconds=1),
                         until=T0 + timedelta(days=1, microseconds=1))
    assert (row.count, row.previous_count) == (1, 1)


def test_report_sorted_by_lift_and_impact(store: Store) -> None:
    """--sort lift puts the themes most linked to unhappy answers first (ties: more answers,
    then dictionary order); impact ranks unhappy answers beyond the base rate."""
    _report_data(store)
    since, until = T0, T0 + timedelta(days=7)
    by_lift = theme_report(store, since=since, until=until, sort="lift", themes=MATCHER.themes)
    assert [(r.theme, r.lift) for r in by_lift] == [
        ("staff", 2.0), ("refund_return", 2.0), ("delivery", 1.0)]
    by_impact = theme_report(store, since=since, until=until, sort="impact",
                             themes=MATCHER.themes)
    assert [r.theme for r in by_impact] == ["staff", "refund_return", "delivery"]


def test_scope_filters_in_the_query(store: Store) -> None:
    """A scope on team_id counts only that store's answers, totals included."""
    _report_data(store)
    rows = theme_report(store, since=T0, until=T0 + timedelta(days=7),
                        scope={"team_id": ["store-1"]})
    assert {r.theme: (r.count, r.base) for r in rows}["delivery"] == (2, 3)
    assert "staff" not in {r.theme for r in rows}


def test_unknown_scope_column_is_refused(store: Store) -> None:
    """A scope naming no sends column, or a personal one, is an error, not a silent no-op."""
    for column in ("region", "email"):
        with pytest.raises(UnknownSegment, match=f"unknown segment '{column}'"):
            theme_report(store, since=T0, until=LATER, scope={column: ["x"]})


def test_quotes_are_the_shortest_recent_comments(store: Store) -> None:
    """Three quotes, chosen deterministically: the shortest of the most recent, newest first."""
    texts = ["Refund please", "Refund was quick and easy, thank you so much for that",
             "Still no refund", "Refund ok", "My refund arrived after a month of waiting"]
    for i, text in enumerate(texts):
        answer(store, f"q{i}", 2, "unsatisfied", text, T0 + timedelta(hours=i))
    refresh_themes(store, MATCHER, T0 + timedelta(days=1))
    [row] = [r for r in theme_report(store, since=T0, until=T0 + timedelta(days=1))
             if r.theme == "refund_return"]
    assert [q.text for q in row.quotes] == ["Refund ok", "Still no refund", "Refund please"]


def test_empty_period_has_no_rows_and_no_division(store: Store) -> None:
    assert theme_report(store, since=T0, until=LATER) == []
