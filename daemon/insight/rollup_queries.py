"""Reports read from the rollups, when a request can be answered by them.

Rollups hold whole weeks and months per single segment, with no viewer scope. So they
answer a request for weeks, months or quarters whose first day starts a period and whose
last day ends one (or is past the newest data), restricted at most by program. Anything
else (a scope or filter on another segment, a day period, a cut period) reads the tables
(insight/facts.py): the same figures, slower.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, func, select, true, type_coerce

from closedloop.daemon.insight.dimensions import canonical
from closedloop.daemon.insight.periods import next_start, period_start
from closedloop.daemon.insight.rollups import _state, fingerprint
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.reports import COUNTS, ROLLUPS, SCORE_AT

if TYPE_CHECKING:
    from closedloop.daemon.insight.facts import Cell
    from closedloop.daemon.insight.report import Query, Scope

_SUMS = [func.sum(ROLLUPS.c[c]) for c in COUNTS]


def _programs(query: Query) -> tuple[str, ...] | None:
    """The programs a request keeps, or None when it restricts more than programs."""
    rules = [*query.scope.allowed.items(), *query.filters.items()]
    if any(name != "program" for name, _ in rules):
        return None
    keep = set(query.programs) if query.programs else None
    for _, values in rules:
        keep = set(values) if keep is None else keep & set(values)
    return () if keep is None else tuple(sorted(keep)) or ("\x00none",)


def _grain(since: date, until: date, period: str, max_day: date | None) -> str | None:
    """The rollup grain that covers [since, until] exactly in `period`s, if any."""
    if period not in ("week", "month", "quarter") or period_start(since, period) != since:
        return None
    ends_period = next_start(period_start(until, period), period) == until + timedelta(days=1)
    if not ends_period and (max_day is None or until < max_day):
        return None
    return "week" if period == "week" else "month"


def _usable(conn: Connection, settings: ReportingSettings, query: Query,
            period: str) -> tuple[str, tuple[str, ...]] | None:
    programs = _programs(query)
    if programs is None:
        return None
    state = _state(conn)
    if state.get("fingerprint") != fingerprint(settings):
        return None
    max_day = date.fromisoformat(state["max_day"]) if state.get("max_day") else None
    grain = _grain(query.since, query.until, period, max_day)
    return None if grain is None else (grain, programs)


def _where(grain: str, segment: str, programs: tuple[str, ...], first: date,
           until: date) -> list[Any]:
    return [ROLLUPS.c.grain == grain, ROLLUPS.c.segment == segment,
            ROLLUPS.c.period >= first, ROLLUPS.c.period <= until,
            ROLLUPS.c.program.in_(programs) if programs else true()]


def read_cells(store: Store, settings: ReportingSettings, query: Query,
               first: date) -> dict[tuple[date, str | None, str], Cell] | None:
    """The report's cells from the rollups, or None if they cannot answer this request."""
    with reading(store.engine) as conn:
        usable = _usable(conn, settings, query, query.period)
        if usable is None:
            return None
        grain, programs = usable
        segment = "" if query.segment is None else canonical(query.segment)
        rows = conn.execute(
            select(type_coerce(ROLLUPS.c.period, String), ROLLUPS.c.value,
                   ROLLUPS.c.survey_type, *_SUMS[:7])
            .where(*_where(grain, segment, programs, first, query.until))
            .group_by(ROLLUPS.c.period, ROLLUPS.c.value, ROLLUPS.c.survey_type)).all()
    cells: dict[tuple[date, str | None, str], Cell] = {}
    starts: dict[Any, date] = {}
    grouped = query.segment is not None
    for period, value, kind, sent, answered, n, low, high, total, squares in rows:
        if not (sent or n):
            continue
        start = starts.get(period)
        if start is None:
            day = date.fromisoformat(period) if isinstance(period, str) else period
            start = starts[period] = period_start(day, query.period)
        key = (start, value if grouped else None, kind)
        cell = cells.get(key)
        if cell is None:
            cells[key] = [int(n), int(low), int(high), int(total), int(squares), int(sent),
                          int(answered)]
        else:
            for i, add in enumerate((n, low, high, total, squares, sent, answered)):
                cell[i] += int(add)
    return cells


def read_distribution(store: Store, settings: ReportingSettings,
                      query: Query) -> dict[str, dict[int, int]] | None:
    with reading(store.engine) as conn:
        for period in ("month", "week"):
            usable = _usable(conn, settings, query, period)
            if usable is not None:
                break
        else:
            return None
        grain, programs = usable
        rows = conn.execute(
            select(ROLLUPS.c.survey_type, *_SUMS[SCORE_AT:])
            .where(*_where(grain, "", programs, query.since, query.until))
            .group_by(ROLLUPS.c.survey_type)).all()
    return {row[0]: {score: int(n) for score, n in enumerate(row[1:]) if n}
            for row in rows if any(row[1:])}


def segment_values(store: Store, settings: ReportingSettings, segment: str,
                   scope: Scope) -> list[str] | None:
    from closedloop.daemon.insight.report import Query

    query = Query(since=date.min, until=date.max, scope=scope)
    programs = _programs(query)
    with reading(store.engine) as conn:
        if programs is None or _state(conn).get("fingerprint") != fingerprint(settings):
            return None
        values = conn.scalars(
            select(ROLLUPS.c.value).distinct()
            .where(ROLLUPS.c.grain == "month", ROLLUPS.c.segment == canonical(segment),
                   ROLLUPS.c.program.in_(programs) if programs else true())).all()
    return sorted(v for v in values if v)


def known_programs(store: Store, settings: ReportingSettings) -> set[str] | None:
    with reading(store.engine) as conn:
        if _state(conn).get("fingerprint") != fingerprint(settings):
            return None
        return set(conn.scalars(select(ROLLUPS.c.program).distinct().where(
            ROLLUPS.c.grain == "month", ROLLUPS.c.segment == "")))
