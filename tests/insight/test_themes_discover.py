"""Discovered themes: frequent words and pairs no dictionary theme matched, named by their
common spelling, negation kept, counted over the latest comments of the period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from themes_support import answer

from closedloop.daemon.insight.themes import ThemeMatcher, default_themes, discover_themes
from closedloop.daemon.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MATCHER = ThemeMatcher(default_themes())


def _discover(store: Store, **kw: object) -> list[tuple[str, int]]:
    found = discover_themes(store, MATCHER, since=T0, until=T0 + timedelta(days=7), **kw)
    return [(r.theme, r.count) for r in found.rows]


def test_a_recurring_pair_is_found_and_hides_its_words(store: Store) -> None:
    """Three comments about loyalty points: the pairs are candidates, their single words
    are not (the pairs explain them); words a theme matched ("delivery") are left out."""
    for i, text in enumerate(["My loyalty points vanished", "LOYALTY POINTS vanished again!",
                              "Loyalty points vanished after the delivery"]):
        answer(store, f"k{i}", 2, "unsatisfied", text, T0 + timedelta(hours=i))
    assert _discover(store) == [("loyalty points", 3), ("points vanished", 3)]


def test_a_candidate_needs_min_count_comments(store: Store) -> None:
    """min_count comments make a candidate; one fewer does not."""
    for i in range(2):
        answer(store, f"k{i}", 2, "unsatisfied", "Voucher code", T0 + timedelta(hours=i))
    assert _discover(store, min_count=3) == []
    assert _discover(store, min_count=2) == [("voucher code", 2)]


def test_a_negated_word_is_its_own_candidate(store: Store) -> None:
    """"not compatible" is not "compatible": the cue stays in the name."""
    for i in range(3):
        answer(store, f"n{i}", 1, "unsatisfied", "Adapter not compatible", T0)
    for i in range(3):
        answer(store, f"p{i}", 5, "satisfied", "Compatible adapter", T0)
    found = dict(_discover(store, min_count=3))
    assert found["not compatible"] == 3
    assert found["compatible adapter"] == 3


def test_the_unhappy_share_and_scope(store: Store) -> None:
    """Low share and lift over the sample; the scope filters in the query."""
    for i in range(3):
        answer(store, f"a{i}", 1, "unsatisfied", "Voucher expired", T0, team_id="s1")
    for i in range(3):
        answer(store, f"b{i}", 5, "satisfied", "Great", T0, team_id="s2")
    found = discover_themes(store, MATCHER, since=T0, until=T0 + timedelta(days=1))
    [row] = [r for r in found.rows if r.theme == "voucher expired"]
    assert (row.count, row.low_share, row.lift, row.base, row.discovered) == (
        3, 1.0, 2.0, 6, True)
    assert discover_themes(store, MATCHER, since=T0, until=T0 + timedelta(days=1),
                           scope={"team_id": ["s2"]}).rows == []
