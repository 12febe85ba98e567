"""Counting every fact at once (a rollups rebuild): column-wise, with Counter.

Split from rollups.py (which keeps the facts and their incremental moves); the counts are
the ones `store.reports.add_fact` makes one fact at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import repeat

from closedloop.daemon.store.reports import (
    ALL_PROGRAMS,
    COUNTS,
    GRAINS,
    SCORE_AT,
    Cell,
    Fact,
    cross_segment,
    grain_start,
)


def table_order(key: Cell) -> tuple[str, str, str, str, date, str]:
    """report_rollups' primary key order: rows written in it are read in few pages."""
    grain, segment, period, survey_type, value, program = key
    return grain, segment, program, survey_type, period, value


def count_all(facts: Sequence[Fact], dim_names: Sequence[str],
              levels: Sequence[tuple[str, int]] = ()) -> dict[Cell, list[int]]:
    """Every fact's counts, column by column: Counter over zipped columns runs in C.

    Each scope level also counts every other segment within each of its values (segment
    column `cross_segment(level, value, name)`), as `add_fact` does one fact at a time."""
    if not facts:
        return {}
    programs = [f.program for f in facts]
    types = [f.survey_type for f in facts]
    answered = [f.answered for f in facts]
    scores = [f.score for f in facts]
    ranks = [f.rank for f in facts]
    dims = list(zip(*(f.dims for f in facts), strict=True))
    columns: list[tuple[Sequence[str] | None, Sequence[str] | None, str]] = [(None, None, "")]
    columns += [(None, values, name) for name, values in zip(dim_names, dims, strict=True)]
    for level, at in levels:
        for i, name in enumerate(dim_names):
            if i != at:
                keys = {v: cross_segment(level, v, name) for v in set(dims[at])}
                columns.append(([keys[v] for v in dims[at]], dims[i], ""))
    cells: dict[Cell, list[int]] = {}
    for grain in GRAINS:
        starts = {d: grain_start(d, grain) for f in facts
                  for d in (f.sent_day, f.answer_day) if d is not None}
        sent_at = [starts.get(f.sent_day) if f.sent_day else None for f in facts]
        answer_at = [starts.get(f.answer_day) if f.answer_day and f.score is not None
                     else None for f in facts]
        for segments, values, name in columns:
            def column(given: Sequence[str] | None, fixed: str) -> Iterable[str]:
                return repeat(fixed) if given is None else given
            sent = Counter(zip(sent_at, programs, types, column(segments, name),
                               column(values, ""), answered, strict=False))
            for (period, program, kind, segment, value, was_answered), n in sent.items():
                if period is not None:
                    counts = cells.setdefault((grain, segment, period, kind, value, program),
                                              [0] * len(COUNTS))
                    counts[0] += n
                    counts[1] += n if was_answered else 0
            scored = Counter(zip(answer_at, programs, types, column(segments, name),
                                 column(values, ""), scores, ranks, strict=False))
            for (period, program, kind, segment, value, score, rank), n in scored.items():
                if period is not None:
                    counts = cells.setdefault((grain, segment, period, kind, value, program),
                                              [0] * len(COUNTS))
                    counts[2] += n
                    counts[3] += n if rank == 0 else 0
                    counts[4] += n if rank == 2 else 0
                    counts[5] += n * score
                    counts[6] += n * score * score
                    counts[SCORE_AT + score] += n
    return with_all_programs(cells)


def with_all_programs(cells: dict[Cell, list[int]]) -> dict[Cell, list[int]]:
    """`cells` plus, per cell key without its program, the sum over its programs (program
    ALL_PROGRAMS), as `add_fact` counts one fact under both."""
    summed: dict[Cell, list[int]] = {}
    for (grain, segment, period, kind, value, _), counts in cells.items():
        key = (grain, segment, period, kind, value, ALL_PROGRAMS)
        before = summed.get(key)
        summed[key] = list(counts) if before is None else [
            a + b for a, b in zip(before, counts, strict=True)]
    cells.update(summed)
    return cells
