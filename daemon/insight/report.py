"""The report API: scores, shares, intervals and response rates per period and segment.

This module is the contract the CLI (`closedloop report`) and the dashboard build on: the
names below do not change. Every figure is computed here, server-side; a `Scope` and the
viewer's filters become WHERE clauses (insight/dimensions.py), never a filter applied to
rows already read. Answers count in the period of their first answer's local day (reporting
time zone); surveys count as sent in the period of their send, and the response rate of a
period is the share of the surveys sent in it that were answered (reminders are not
surveys: an answer to a reminder is an answer to its survey).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import ClassVar, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select

from closedloop.daemon.insight import direct, rollup_queries, rollups
from closedloop.daemon.insight.dimensions import (
    RESPONSES,
    SENDS,
    ReportError,
    check_segment,
    restricted_sends,
    value_of,
)
from closedloop.daemon.insight.periods import (
    PERIODS,
    Period,
    local_day,
    period_start,
    previous_start,
)
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.stats import (
    CATEGORY_NAMES,
    Z95,
    mean_interval,
    nps_interval,
    wilson_interval,
)
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db

__all__ = [
    "CommentRow", "Figures", "Period", "Query", "ReportError", "Row", "Scope",
    "distribution", "latest_comments", "refresh", "report", "segment_values",
]
SCALES = {"nps": range(0, 11), "csat": range(1, 6), "ces": range(1, 8)}


@dataclass(frozen=True)
class Scope:
    """Which answers a viewer may see: segment name -> allowed values. Empty = everything.
    Several keys AND together; several values of one key OR together."""

    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    ALL: ClassVar[Scope]


Scope.ALL = Scope()


@dataclass(frozen=True)
class Query:
    since: date  # first local day (reporting time zone), inclusive
    until: date  # last local day, inclusive
    period: Period = "week"
    programs: tuple[str, ...] = ()  # () = every program
    segment: str | None = None  # group by this segment (None: no grouping)
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)  # ANDed with scope
    scope: Scope = Scope.ALL


@dataclass(frozen=True)
class Figures:
    """One survey type, one period, one segment value."""

    survey_type: str  # nps | csat | ces
    sent: int  # surveys sent in the period (reminders excluded)
    answers: int  # answers given in the period
    response_rate: float | None  # answered / sent, of the surveys sent in the period
    score: float | None  # NPS (-100..100), CSAT share % (>= threshold), CES mean
    ci_low: float | None  # 95 %: Wilson (shares), trinomial (NPS), normal (CES mean)
    ci_high: float | None
    mean: float | None  # mean score
    shares: Mapping[str, float]  # category -> share %
    small_sample: bool  # answers < reporting.small_sample
    change: float | None  # score minus the previous period's score
    answered: int = 0  # of the `sent` surveys, how many have an answer (at any time)


@dataclass(frozen=True)
class Row:
    period_start: date
    segment_value: str | None  # None when Query.segment is None; "" = not set
    figures: Figures


@dataclass(frozen=True)
class CommentRow:
    send_id: int
    program: str
    survey_type: str
    score: int
    category: str
    comment: str
    answered_at: datetime
    source: str
    ticket_id: str | None
    contact_id: str
    segments: Mapping[str, str]  # built-in + custom values of the send


Key = tuple[date, str | None, str]  # period start, segment value, survey type


def refresh(store: Store, settings: ReportingSettings, now: datetime) -> int:
    """Bring the rollups up to date; cheap when nothing changed (the scheduled job also
    re-reads the margins behind its cursors). Returns how many rollup rows moved."""
    return rollups.refresh(store, settings, now, thorough=False)


def report(store: Store, settings: ReportingSettings, query: Query) -> list[Row]:
    """One row per period, segment value and survey type with answers or sends in it."""
    check_query(store, settings, query)
    zone = ZoneInfo(settings.timezone)
    first = previous_start(period_start(query.since, query.period), query.period)
    with _no_gc():  # tens of thousands of new objects, none cyclic: no collection passes
        cells = rollup_queries.read_cells(store, settings, query, first)
        if cells is None:
            cells = direct.read_cells(store, settings, query, first, zone)
        return _rows(cells, query.period, settings.small_sample,
                     period_start(query.since, query.period))


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector paused: building 25 000 rows otherwise triggers passes that
    walk every live object (a third of a large report's time); reference counting still
    frees everything, and the collector resumes as it was.

    On resuming, the young objects (the rows just built: alive, acyclic) join the oldest
    generation at once (freeze + unfreeze move lists, walk nothing) rather than being
    walked by the young-generation pass the first allocation would start (a sixth of a
    large report's time); what dies before the next full collection is never walked.
    Skipped when the process froze objects itself (unfreeze would release them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def headline(survey_type: str, counts: Sequence[int]) -> float | None:
    """NPS, CSAT share % or CES mean of cell counts [n, low, high, total, squares, ...]."""
    n, low, high, total = counts[0], counts[1], counts[2], counts[3]
    if n <= 0:
        return None
    if survey_type == "nps":
        return 100.0 * (high - low) / n
    return 100.0 * high / n if survey_type == "csat" else total / n


def figures(survey_type: str, counts: Sequence[int], small_sample: int,
            before: float | None = None, score: float | None = None) -> Figures:
    """The figures of one cell, counts [n, low, high, total, squares, sent, answered];
    `before` is the previous period's score (for the change), `score` this one's if known.
    (A report builds tens of thousands: the common case is kept to plain arithmetic.)"""
    n, low, high, total, squares, sent, answered = counts[:7]
    if score is None:
        score = headline(survey_type, counts)
    if survey_type == "nps":
        interval = nps_interval(high, low, n)
    elif survey_type == "csat":
        interval = wilson_interval(high, n)
    else:
        interval = mean_interval(n, total, squares)
    low_name, middle, high_name = CATEGORY_NAMES.get(survey_type, _UNKNOWN)
    if n > 0:
        shares = {low_name: 100.0 * low / n, high_name: 100.0 * high / n}
        if middle is not None:
            shares[middle] = 100.0 * (n - low - high) / n
    else:
        shares = {}
    return _built(Figures, _FIGURES, (
        survey_type, sent, n, None if sent <= 0 else answered / sent, score,
        None if interval is None else interval[0], None if interval is None else interval[1],
        None if n <= 0 else total / n, shares, n < small_sample,
        None if score is None or before is None else score - before, answered))


_UNKNOWN: tuple[str, str | None, str] = ("low", None, "high")


_NPS_HALF = 100.0 * Z95  # nps_interval's 100·z, multiplied in the same order
_Z2 = Z95 * Z95


_NAMES = dict(CATEGORY_NAMES)


def _rows(cells: Mapping[Key, Sequence[int]], period: Period,  # noqa: PLR0915 one loop:
          small_sample: int, current: date) -> list[Row]:  # a call per row costs more
    """`figures()` for every cell from `current` on, in key order, as one loop of plain
    float arithmetic: the same expressions in the same order (so the same floats, pinned
    by tests/insight/test_report_rows.py), without a call, a tuple or a generated
    __init__ per figure; a report of 25 000 rows spends most of its time here. Keys come
    sorted, so a cell's previous period was scored before it (cells before `current`
    are scored, for the change, and not shown)."""
    scores: dict[Key, float | None] = {}
    names = _NAMES
    new, sqrt = object.__new__, math.sqrt
    out: list[Row] = []
    append = out.append
    last = previous_start_ = date.min
    for key in sorted(cells):
        start, value, kind = key
        n, low, high, total, squares, sent, answered = cells[key]
        if n > 0:  # headline(), inlined
            score: float | None = (100.0 * (high - low) / n if kind == "nps"
                                   else 100.0 * high / n if kind == "csat" else total / n)
        else:
            score = None
        scores[key] = score
        if start < current:
            continue
        if start != last:
            last, previous_start_ = start, previous_start(start, period)
        previous = scores.get((previous_start_, value, kind))
        ci_low = ci_high = None
        if n > 0:
            low_name, middle, high_name = names.get(kind, _UNKNOWN)
            shares = {low_name: 100.0 * low / n, high_name: 100.0 * high / n}
            if middle is not None:
                shares[middle] = 100.0 * (n - low - high) / n
            if kind == "nps":  # stats.nps_interval
                pro, det = high / n, low / n
                variance = (pro + det - (pro - det) ** 2) / n
                centre = 100.0 * (pro - det)
                half = _NPS_HALF * sqrt(variance if variance > 0.0 else 0.0)
                ci_low, ci_high = centre - half, centre + half  # clipped to -100..100:
                ci_low = ci_low if ci_low > -100.0 else -100.0  # (max/min as conditions)
                ci_high = ci_high if ci_high < 100.0 else 100.0
            elif kind == "csat":  # stats.wilson_interval
                p = high / n
                denominator = 1.0 + _Z2 / n
                middle_ = (p + _Z2 / (2 * n)) / denominator
                half = Z95 / denominator * sqrt(p * (1 - p) / n + _Z2 / (4 * n * n))
                ci_low = max(0.0, 100.0 * (middle_ - half))
                ci_high = min(100.0, 100.0 * (middle_ + half))
            elif (interval := mean_interval(n, total, squares)) is not None:
                ci_low, ci_high = interval
        else:
            shares = {}
        made = new(Figures)
        d = made.__dict__  # field by field into the instance's own (key-sharing) dict
        d["survey_type"], d["sent"], d["answers"] = kind, sent, n
        d["response_rate"] = None if sent <= 0 else answered / sent
        d["score"], d["ci_low"], d["ci_high"] = score, ci_low, ci_high
        d["mean"] = None if n <= 0 else total / n
        d["shares"], d["small_sample"] = shares, n < small_sample
        d["change"] = None if score is None or previous is None else score - previous
        d["answered"] = answered
        row = new(Row)
        d = row.__dict__
        d["period_start"], d["segment_value"], d["figures"] = start, value, made
        append(row)
    return out


_FIGURES = tuple(f.name for f in fields(Figures))
_ROW = tuple(f.name for f in fields(Row))
_T = TypeVar("_T")


def _built(cls: type[_T], names: tuple[str, ...], values: tuple[object, ...]) -> _T:
    """A frozen dataclass instance from values in field order, without the generated
    __init__'s one object.__setattr__ per field (half a report's time at 20 k rows)."""
    made = object.__new__(cls)
    made.__dict__.update(zip(names, values, strict=True))
    return made


def distribution(store: Store, settings: ReportingSettings,
                 query: Query) -> dict[str, dict[int, int]]:
    """Survey type -> score -> answers in [since, until] (every point of the scale shown)."""
    check_query(store, settings, query)
    counts = rollup_queries.read_distribution(store, settings, query)
    if counts is None:
        counts = direct.read_distribution(store, settings, query, ZoneInfo(settings.timezone))
    return {survey: {score: counts.get(survey, {}).get(score, 0)
                     for score in SCALES.get(survey, sorted(counts[survey]))}
            for survey in sorted(counts)}


def segment_values(store: Store, settings: ReportingSettings, segment: str,
                   scope: Scope) -> list[str]:
    """The values a segment takes on the surveys the scope may see (for pickers); "" (not
    set) is left out."""
    check_segment(segment, settings)
    fast = rollup_queries.segment_values(store, settings, segment, scope)
    if fast is not None:
        return fast
    value = value_of(segment, settings)
    with reading(store.engine) as conn:
        source, restrict = restricted_sends(settings, scope.allowed,
                                            indexed=rollups.indexed_levels(conn, settings))
        found = conn.scalars(
            select(value).distinct()
            .select_from(source.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
            .where(SENDS.c.kind == "survey", restrict)).all()
    return sorted(v for v in found if v)


def latest_comments(store: Store, settings: ReportingSettings, query: Query, *,
                    unhappy_first: bool = True, categories: tuple[str, ...] = (),
                    limit: int = 50, offset: int = 0) -> list[CommentRow]:
    """Comments answered in [since, until], the unhappy (detractor, unsatisfied, difficult)
    first when asked, then the newest; `categories` keeps only those categories."""
    check_query(store, settings, query)
    if limit < 0 or offset < 0:
        raise ReportError("limit and offset cannot be negative")
    return direct.read_comments(store, settings, query, ZoneInfo(settings.timezone),
                               unhappy_first=unhappy_first, categories=categories,
                               limit=limit, offset=offset)


def check_query(store: Store, settings: ReportingSettings, query: Query) -> None:
    """ReportError naming what is wrong and the valid choices; nothing is read before."""
    if query.since > query.until:
        raise ReportError(f"since ({query.since}) is after until ({query.until}); the period "
                          "is empty")
    if query.period not in PERIODS:
        raise ReportError(f"unknown period {query.period!r}; expected one of: "
                          f"{', '.join(PERIODS)}")
    if query.segment is not None:
        check_segment(query.segment, settings, "segment")
    for name in (*query.filters, *query.scope.allowed):
        check_segment(name, settings, "filter segment")
    if query.programs:
        known = rollup_queries.known_programs(store, settings) or direct.known_programs(store)
        unknown = [p for p in query.programs if p not in known]
        if unknown:
            raise ReportError(f"unknown program {', '.join(map(repr, unknown))}; expected one "
                              f"of: {', '.join(sorted(known)) or '(no survey sent yet)'}")


def local_period(moment: datetime, settings: ReportingSettings, period: str) -> date:
    """The period start holding `moment` in the reporting zone (for callers and tests)."""
    return period_start(local_day(from_db(moment), ZoneInfo(settings.timezone)), period)
