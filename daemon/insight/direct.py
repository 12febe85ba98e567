"""Reports read straight from the sends and responses tables (what the rollups cannot answer).

Answers are read with the scope and filters in the WHERE clause, bounded by the UTC
instants of the local days asked for, and folded per period in the reporting zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    type_coerce,
)

from closedloop.daemon.insight.dimensions import (
    RESPONSES,
    SENDS,
    canonical,
    program_clause,
    restricted_sends,
    value_of,
)
from closedloop.daemon.insight.periods import day_start, period_start
from closedloop.daemon.insight.rollup_facts import LocalDays
from closedloop.daemon.insight.rollups import indexed_levels
from closedloop.daemon.insight.segments import ANSWER_SEGMENT_KEYS, SEGMENT_KEYS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.stats import LOW, category_rank
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db
from closedloop.daemon.store.reports import ALL_PROGRAMS, ROLLUPS

if TYPE_CHECKING:
    from closedloop.daemon.insight.report import CommentRow, Query

SENT = ("sent", "outcome_unknown")  # outcome_unknown may have been delivered: counted as sent
# [answers, low, high, score sum, squares sum, sent, answered of those sent]
Cell = list[int]


def refresh(store: Store, settings: ReportingSettings, now: datetime) -> int:
    """Nothing to bring up to date: this reader uses the tables themselves."""
    return 0


def known_programs(store: Store) -> set[str]:
    with reading(store.engine) as conn:
        return set(conn.scalars(select(SENDS.c.program).distinct()))


def _from(settings: ReportingSettings, query: Query, conn: Connection, scopes: bool = True
          ) -> tuple[FromClause, ColumnElement[bool]]:
    """FROM sends (joined to report_scopes for indexed scope levels unless `scopes` is
    False) and the WHERE clause."""
    source, where = restricted_sends(settings, query.scope.allowed, query.filters,
                                     indexed=indexed_levels(conn, settings) if scopes else ())
    return source, and_(SENDS.c.kind == "survey", program_clause(query.programs), where)


def _group(settings: ReportingSettings, query: Query) -> ColumnElement[Any]:
    return literal(None) if query.segment is None else value_of(query.segment, settings)


def _keep(day: date, first: date, query: Query) -> bool:
    """Days before `since` count only in the earlier period (the change's reference)."""
    return day <= query.until and (day >= query.since
                                   or day < period_start(query.since, query.period)) \
        and day >= first


def read_cells(store: Store, settings: ReportingSettings, query: Query, first: date,
               zone: ZoneInfo) -> dict[tuple[date, str | None, str], Cell]:
    """Answers and sends per (period start, segment value, survey type), from `first`."""
    lo, hi = day_start(first, zone), day_start(query.until + timedelta(days=1), zone)
    group = _group(settings, query)
    cells: dict[tuple[date, str | None, str], Cell] = {}

    def cell(key: tuple[date, str | None, str]) -> Cell:
        found = cells.get(key)
        if found is None:
            found = cells[key] = [0] * 7
        return found

    days = LocalDays(zone)  # one zone conversion per quarter hour, not per row
    period_of: dict[date, date] = {}

    def starts(day: date) -> date:
        found = period_of.get(day)
        if found is None:
            found = period_of[day] = period_start(day, query.period)
        return found

    with reading(store.engine) as conn:
        source, where = _from(settings, query, conn)
        joined = source.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
        raw = conn.dialect.name == "sqlite"  # stored text: LocalDays decodes it once
        answers = conn.execute(
            select(_raw(RESPONSES.c.answered_at, raw), SENDS.c.survey_type, group,
                   RESPONSES.c.score, RESPONSES.c.category)
            .select_from(joined)
            .where(where, RESPONSES.c.answered_at >= lo,
                   RESPONSES.c.answered_at < hi))
        for answered_at, survey_type, value, score, category in answers:
            day = days(answered_at)
            if day is not None and _keep(day, first, query):
                counts = cell((starts(day), value, survey_type))
                rank = category_rank(survey_type, category)
                counts[0] += 1
                counts[1] += rank == 0
                counts[2] += rank == 2
                counts[3] += score
                counts[4] += score * score
        sent = conn.execute(
            select(_raw(SENDS.c.sent_at, raw), SENDS.c.survey_type, group,
                   RESPONSES.c.id.is_not(None))
            .select_from(joined)
            .where(where, SENDS.c.status.in_(SENT),
                   SENDS.c.sent_at >= lo, SENDS.c.sent_at < hi))
        for sent_at, survey_type, value, answered in sent:
            day = days(sent_at)
            if day is not None and _keep(day, first, query):
                counts = cell((starts(day), value, survey_type))
                counts[5] += 1
                counts[6] += 1 if answered else 0
    return cells


def _raw(column: Any, raw: bool) -> Any:
    return type_coerce(column, String) if raw else column


def read_distribution(store: Store, settings: ReportingSettings, query: Query,
                      zone: ZoneInfo) -> dict[str, dict[int, int]]:
    lo = day_start(query.since, zone)
    hi = day_start(query.until + timedelta(days=1), zone)
    counts: dict[str, dict[int, int]] = {}
    with reading(store.engine) as conn:
        source, where = _from(settings, query, conn)
        rows = conn.execute(
            select(SENDS.c.survey_type, RESPONSES.c.score)
            .select_from(source.join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
            .where(where, RESPONSES.c.answered_at >= lo,
                   RESPONSES.c.answered_at < hi))
        for survey_type, score in rows:
            by_score = counts.setdefault(survey_type, {})
            by_score[score] = by_score.get(score, 0) + 1
    return counts


def segment_columns(settings: ReportingSettings) -> list[tuple[str, ColumnElement[str]]]:
    """(name, expression) of every segment once (aliases such as brand left out)."""
    seen: set[str] = set()
    found = []
    for name, column in (*SEGMENT_KEYS.items(), *ANSWER_SEGMENT_KEYS.items()):
        if column not in seen:
            seen.add(column)
            found.append((name, value_of(name, settings)))
    return found + [(name, value_of(name, settings)) for name in settings.segments]


def read_comments(store: Store, settings: ReportingSettings, query: Query, zone: ZoneInfo,
                  *, unhappy_first: bool, categories: tuple[str, ...], limit: int,
                  offset: int) -> list[CommentRow]:
    """Newest first; with `unhappy_first`, the unhappy ones, then the others: two queries
    that each walk the answer-time index from the newest and stop at the page's end."""
    from closedloop.daemon.insight.report import CommentRow

    lo = day_start(query.since, zone)
    hi = day_start(query.until + timedelta(days=1), zone)
    columns = segment_columns(settings)
    unhappy = or_(*(and_(SENDS.c.survey_type == survey, RESPONSES.c.category == low)
                    for survey, low in LOW.items()))
    stmt = (select(SENDS.c.id, SENDS.c.program, SENDS.c.survey_type, RESPONSES.c.score,
                   RESPONSES.c.category, RESPONSES.c.comment, RESPONSES.c.answered_at,
                   SENDS.c.source, SENDS.c.ticket_id, SENDS.c.contact_id,
                   *(expr.label(f"seg_{i}") for i, (_, expr) in enumerate(columns)))
            .where(RESPONSES.c.answered_at >= lo,
                   RESPONSES.c.answered_at < hi, RESPONSES.c.comment.is_not(None),
                   RESPONSES.c.comment != "")
            .order_by(RESPONSES.c.answered_at.desc(), SENDS.c.id.desc()))
    if categories:
        stmt = stmt.where(RESPONSES.c.category.in_(list(categories)))
    wanted = offset + limit
    with reading(store.engine) as conn:
        source, where = _from(settings, query, conn, scopes=not _broad(conn, settings, query))
        stmt = stmt.select_from(source.join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                                ).where(where)
        if unhappy_first:
            rows = list(conn.execute(stmt.where(unhappy).limit(wanted)))
            if len(rows) < wanted:
                rows += conn.execute(stmt.where(~unhappy).limit(wanted - len(rows)))
        else:
            rows = list(conn.execute(stmt.limit(wanted)))
    return [CommentRow(
        send_id=row[0], program=row[1], survey_type=row[2], score=row[3], category=row[4],
        comment=row[5], answered_at=from_db(row[6]), source=row[7], ticket_id=row[8],
        contact_id=row[9], segments=_segments(columns, row[10:]))
        for row in rows[offset:offset + limit]]


# A scope holding this share of the answers, and at least BROAD_MIN of them, walks the
# answer-time index (a few hundred rows read per comment shown, at most the period's)
BROAD, BROAD_MIN = 0.02, 20_000


def _broad(conn: Connection, settings: ReportingSettings, query: Query) -> bool:
    """Whether the scope holds enough answers that walking the newest answers and dropping
    the others' (the scope tested on the send's own value, not joined to report_scopes)
    beats reading all of the scope's surveys and sorting them: with the join both databases
    start from report_scopes, and a region's 100 000 surveys take up to a second, while a
    store's few thousand are quicker read that way. Measured on the monthly rollups."""
    levels = indexed_levels(conn, settings)
    scoped = [(canonical(k), v) for k, v in query.scope.allowed.items()
              if canonical(k) in levels]
    if not scoped:
        return False
    total = conn.scalar(select(func.sum(ROLLUPS.c.n)).where(
        ROLLUPS.c.grain == "month", ROLLUPS.c.segment == "",
        ROLLUPS.c.program == ALL_PROGRAMS)) or 0
    inside = min(conn.scalar(select(func.sum(ROLLUPS.c.n)).where(
        ROLLUPS.c.grain == "month", ROLLUPS.c.segment == name,
        ROLLUPS.c.program == ALL_PROGRAMS,
        ROLLUPS.c.value.in_(sorted(values)))) or 0 for name, values in scoped)
    return inside >= max(BROAD * total, BROAD_MIN)


def _segments(columns: list[tuple[str, ColumnElement[str]]],
              values: Any) -> Mapping[str, str]:
    return {name: value for (name, _), value in zip(columns, values, strict=True)}
