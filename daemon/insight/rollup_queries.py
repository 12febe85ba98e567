"""Reports read from the rollups, when a request can be answered by them.

Rollups hold whole weeks and months per single segment, and per segment within each value
of a scope level (`cross_segment`). So they answer a request for weeks, months or quarters
whose first day starts a period and whose last day ends one (or is past the newest data),
restricted by program and by one segment, or by one scope level and one other segment
(a region viewer grouping by team). Anything else (two restrictions besides a scope
level, a day period, a cut period) reads the tables (insight/direct.py): the same
figures, slower.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, func, select, text, true, type_coerce

from closedloop.daemon.insight.dimensions import canonical
from closedloop.daemon.insight.periods import next_start, period_start
from closedloop.daemon.insight.rollups import fingerprint, read_state, scope_levels
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.reports import (
    ALL_PROGRAMS,
    COUNTS,
    ROLLUPS,
    SCORE_AT,
    cross_segment,
)
from closedloop.daemon.surveys import SurveyType

if TYPE_CHECKING:
    from closedloop.daemon.insight.direct import Cell
    from closedloop.daemon.insight.report import Query, Scope

_SUMS = [func.sum(ROLLUPS.c[c]) for c in COUNTS]
_CELL = ("n", "low", "high", "total", "squares", "sent", "answered")  # a report cell's order


@dataclass(frozen=True)
class Plan:
    """How the rollups answer a request: which grain and segment rows (several: a scope
    level's values), which programs' rows (ALL_PROGRAMS: summed across programs) of which
    survey types and, for a filter on the segment counted, which of its values."""

    grain: str
    segments: tuple[str, ...]
    values: frozenset[str] | None
    programs: tuple[str, ...]
    types: tuple[str, ...] = ()

    @property
    def one_row_per_cell(self) -> bool:
        """Whether each (period, type, value) is one rollup row: nothing to sum."""
        return self.programs == (ALL_PROGRAMS,) and len(self.segments) == 1


Restriction = tuple[tuple[str, ...], frozenset[str] | None, tuple[str, ...]]


def _restriction(query: Query, levels: list[str]) -> Restriction | None:
    """(rollup segments, allowed values or None, programs) of a request, or None when the
    rollups cannot answer it: its scope, filters and grouping name more than one segment
    besides the program, unless one of two is a scope level (`levels`)."""
    rules = [(canonical(k), v) for k, v in (*query.scope.allowed.items(),
                                           *query.filters.items())]
    keep: set[str] | None = set(query.programs) if query.programs else None
    for name, values in rules:
        if name == "program":
            keep = set(values) if keep is None else keep & set(values)
    others = {name for name, _ in rules if name != "program"}
    target = None if query.segment is None else canonical(query.segment)
    programs = () if keep is None else tuple(sorted(keep)) or (NO_PROGRAM,)

    def allowed(segment: str) -> frozenset[str]:
        found: set[str] | None = None
        for name, values in rules:
            if name == segment:
                found = set(values) if found is None else found & set(values)
        return frozenset(found or ())

    if not others:
        return (target or "",), None, programs
    named = others | ({target} if target is not None else set())
    if len(named) == 1:
        segment = others.pop()
        return (segment,), allowed(segment), programs
    level = next((n for n in levels if n in others), None)
    if len(named) != 2 or level is None:
        return None
    (inner,) = named - {level}
    segments = tuple(cross_segment(level, v, inner) for v in sorted(allowed(level)))
    return segments, allowed(inner) if inner in others else None, programs


NO_PROGRAM = "\x00"  # an empty intersection of program restrictions: matches no row


def _grain(since: date, until: date, period: str, max_day: date | None) -> str | None:
    """The rollup grain that covers [since, until] exactly in `period`s, if any."""
    if period not in ("week", "month", "quarter") or period_start(since, period) != since:
        return None
    ends_period = next_start(period_start(until, period), period) == until + timedelta(days=1)
    if not ends_period and (max_day is None or until < max_day):
        return None
    return "week" if period == "week" else "month"


def _plan(conn: Connection, settings: ReportingSettings, query: Query,
          period: str | None = None) -> Plan | None:
    restriction = _restriction(query, scope_levels(settings))
    if restriction is None:
        return None
    state = read_state(conn)
    if state.get("fingerprint") != fingerprint(settings):
        return None
    max_day = date.fromisoformat(state["max_day"]) if state.get("max_day") else None
    grain = _grain(query.since, query.until, period or query.period, max_day)
    if grain is None:
        return None
    segments, values, programs = restriction
    return Plan(grain, segments, values, *_programs(conn, programs))


TYPES = tuple(sorted(t.value for t in SurveyType))


def _programs(conn: Connection, wanted: tuple[str, ...]
              ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(rollup programs, survey types) that answer for the `wanted` programs (() = all):
    the rows summed across programs, of the types whose programs are all wanted, unless
    some type's programs are wanted only in part (then the programs' own rows, summed)."""
    if not wanted:
        return (ALL_PROGRAMS,), TYPES
    kinds: dict[str, set[str]] = {}
    for program, kind in conn.execute(
            select(ROLLUPS.c.program, ROLLUPS.c.survey_type).distinct()
            .where(ROLLUPS.c.grain == "month", ROLLUPS.c.segment == "",
                   ROLLUPS.c.program != ALL_PROGRAMS)):
        kinds.setdefault(kind, set()).add(program)
    keep = set(wanted)
    if any(programs & keep and not programs <= keep for programs in kinds.values()):
        return wanted, TYPES
    return (ALL_PROGRAMS,), tuple(sorted(k for k, programs in kinds.items() if programs <= keep))


def _where(plan: Plan, first: date, until: date) -> list[Any]:
    return [*_rows_of(plan), ROLLUPS.c.period >= first, ROLLUPS.c.period <= until]


def _rows_of(plan: Plan) -> list[Any]:
    """The plan's rows in key order (grain, segment, program, survey_type, period, value):
    the type is always named, so each (program, type) is one index range."""
    return [ROLLUPS.c.grain == plan.grain, _segment_clause(plan.segments),
            _in(ROLLUPS.c.program, plan.programs), _in(ROLLUPS.c.survey_type, plan.types),
            ROLLUPS.c.value.in_(sorted(plan.values)) if plan.values is not None else true()]


def _in(column: Any, values: Sequence[str]) -> Any:
    return column == values[0] if len(values) == 1 else column.in_(list(values))


def _segment_clause(segments: tuple[str, ...]) -> Any:
    return ROLLUPS.c.segment == segments[0] if len(segments) == 1 \
        else ROLLUPS.c.segment.in_(segments)


def read_cells(store: Store, settings: ReportingSettings, query: Query,
               first: date) -> Mapping[tuple[date, str | None, str], Sequence[int]] | None:
    """The report's cells from the rollups, or None if they cannot answer this request."""
    with reading(store.engine) as conn:
        plan = _plan(conn, settings, query)
        if plan is None:
            return None
        head = (type_coerce(ROLLUPS.c.period, String), ROLLUPS.c.value, ROLLUPS.c.survey_type)
        if plan.one_row_per_cell:  # the rows summed across programs, as they are
            stmt = select(*head, *(ROLLUPS.c[c] for c in _CELL))
        else:
            if conn.dialect.name == "postgresql":  # group 100 000 rows in memory, not disk
                conn.execute(text("SET LOCAL work_mem = '64MB'"))
            stmt = (select(*head, *(func.sum(ROLLUPS.c[c]) for c in _CELL))
                    .group_by(ROLLUPS.c.period, ROLLUPS.c.survey_type, ROLLUPS.c.value))
        result = conn.execute(stmt.where(*_where(plan, first, query.until)))
        # Plain tuples from the driver's cursor: every column is a str, a date or an int
        # as the driver gives it (no result processing), and 25 000 rows skip the wrapping
        rows: Sequence[Any] = result.cursor.fetchall()
        result.close()
    starts = {period: period_start(date.fromisoformat(period) if isinstance(period, str)
                                   else period, query.period) for period in {r[0] for r in rows}}
    grouped = query.segment is not None
    if plan.grain == query.period:  # one row per cell: its counts as they come
        # (sums of NOT NULL integers, [n, low, high, total, squares, sent, answered])
        return {(starts[r[0]], r[1] if grouped else None, r[2]): r[3:]
                for r in rows if r[3] or r[8]}
    cells: dict[tuple[date, str | None, str], Cell] = {}
    for row in rows:
        if not (row[3] or row[8]):
            continue
        key = (starts[row[0]], row[1] if grouped else None, row[2])
        cell = cells.get(key)
        if cell is None:
            cells[key] = list(row[3:])
        else:
            for i, add in enumerate(row[3:]):
                cell[i] += add
    return cells


def read_distribution(store: Store, settings: ReportingSettings,
                      query: Query) -> dict[str, dict[int, int]] | None:
    with reading(store.engine) as conn:
        whole = replace(query, segment=None)
        plan = _plan(conn, settings, whole, "month") or _plan(conn, settings, whole, "week")
        if plan is None:
            return None
        rows = conn.execute(
            select(ROLLUPS.c.survey_type, *_SUMS[SCORE_AT:])
            .where(*_where(plan, query.since, query.until))
            .group_by(ROLLUPS.c.survey_type)).all()
    return {row[0]: {score: int(n) for score, n in enumerate(row[1:]) if n}
            for row in rows if any(row[1:])}


def segment_values(store: Store, settings: ReportingSettings, segment: str,
                   scope: Scope) -> list[str] | None:
    from closedloop.daemon.insight.report import Query

    query = Query(since=date.min, until=date.max, scope=scope, segment=segment)
    restriction = _restriction(query, scope_levels(settings))
    with reading(store.engine) as conn:
        if restriction is None or read_state(conn).get("fingerprint") != fingerprint(settings):
            return None
        segments, allowed, programs = restriction
        plan = Plan("month", segments, allowed, *_programs(conn, programs))
        values = conn.scalars(select(ROLLUPS.c.value).distinct().where(*_rows_of(plan))).all()
    return sorted(v for v in values if v)


def known_programs(store: Store, settings: ReportingSettings) -> set[str] | None:
    with reading(store.engine) as conn:
        if read_state(conn).get("fingerprint") != fingerprint(settings):
            return None
        return set(conn.scalars(select(ROLLUPS.c.program).distinct().where(
            ROLLUPS.c.grain == "month", ROLLUPS.c.segment == "",
            ROLLUPS.c.program != ALL_PROGRAMS)))
