"""The report's row loop (report._rows) gives exactly the figures `figures()` and the stats
functions give, cell by cell: it inlines their arithmetic for speed, so every branch is
pinned here (no answer, one answer, all low / all high, no send, CES below two answers,
an unknown survey type, a previous period present or not)."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from datetime import date

import pytest

from closedloop.daemon.insight.report import Key, Row, _no_gc, _rows, figures, headline

WEEK1, WEEK2 = date(2026, 3, 2), date(2026, 3, 9)
COUNTS: list[tuple[str, Sequence[int]]] = [
    # survey type, [n, low, high, total, squares, sent, answered]
    ("nps", [0, 0, 0, 0, 0, 0, 0]),
    ("nps", [0, 0, 0, 0, 0, 5, 0]),
    ("nps", [1, 0, 1, 10, 100, 1, 1]),
    ("nps", [7, 7, 0, 14, 40, 9, 7]),
    ("nps", [7, 0, 7, 66, 630, 9, 8]),
    ("nps", [53, 11, 29, 400, 3300, 80, 60]),
    ("csat", [0, 0, 0, 0, 0, 3, 0]),
    ("csat", [1, 1, 0, 1, 1, 2, 1]),
    ("csat", [9, 0, 9, 45, 225, 12, 9]),
    ("csat", [31, 6, 20, 120, 500, 40, 33]),
    ("ces", [1, 0, 1, 6, 36, 1, 1]),
    ("ces", [2, 1, 1, 8, 40, 2, 2]),
    ("ces", [40, 5, 25, 210, 1200, 55, 41]),
    ("other", [4, 1, 2, 12, 40, 4, 4]),
]


@pytest.mark.parametrize(("survey_type", "counts"), COUNTS)
@pytest.mark.parametrize("with_previous", [False, True])
def test_rows_equal_figures_of_each_cell(survey_type: str, counts: Sequence[int],
                                         with_previous: bool) -> None:
    """Same floats, same None, same shares and flags as `figures()` on the same counts."""
    cells: dict[Key, Sequence[int]] = {(WEEK2, "store-1", survey_type): counts}
    before = None
    if with_previous:
        cells[(WEEK1, "store-1", survey_type)] = [10, 2, 5, 70, 520, 12, 10]
        before = headline(survey_type, cells[(WEEK1, "store-1", survey_type)])
    expected = [Row(WEEK2, "store-1", figures(survey_type, counts, 5, before))]
    assert expected == _rows(cells, "week", 5, WEEK2)


def test_rows_are_in_key_order_from_the_first_period_on() -> None:
    """Cells before `current` only serve as previous periods; rows come sorted by period,
    segment value, survey type."""
    cells: dict[Key, Sequence[int]] = {
        (WEEK2, "b", "nps"): [1, 0, 1, 9, 81, 1, 1],
        (WEEK2, "a", "nps"): [1, 1, 0, 3, 9, 1, 1],
        (WEEK2, "a", "csat"): [1, 0, 1, 5, 25, 1, 1],
        (WEEK1, "a", "nps"): [1, 0, 1, 9, 81, 1, 1],
    }
    rows = _rows(cells, "week", 5, WEEK2)
    expected = [(WEEK2, "a", "csat", None), (WEEK2, "a", "nps", -200.0),
                (WEEK2, "b", "nps", None)]
    actual = [(r.period_start, r.segment_value, r.figures.survey_type, r.figures.change)
              for r in rows]
    assert expected == actual


def test_the_collector_resumes_as_it_was() -> None:
    """A report pauses the cyclic collector and resumes it only if it was running; it
    leaves nothing frozen, and objects the process froze itself stay frozen."""
    with _no_gc():
        assert gc.isenabled() is False
    assert (gc.isenabled(), gc.get_freeze_count()) == (True, 0)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with _no_gc():
            pass
        # Frozen objects other threads free leave the count; an unfreeze would empty it and
        # another freeze would grow it.
        assert frozen * 9 // 10 <= gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with _no_gc():
            pass
        assert gc.isenabled() is False
    finally:
        gc.enable()
