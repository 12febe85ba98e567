"""The theme report's fast paths: counts from the theme rollups for whole weeks or months,
and example quotes found by walking the newest answers of the window (bounded).

`counts` answers None when the rollups cannot give the exact answer (window not whole
periods in the reporting zone, filters, a scope of several levels, rollups not current):
the report then counts from the tables. For weeks the previous window is the same length
before, as on the slow path; for months it is the same number of months before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select

from closedloop.daemon.insight.dimensions import RESPONSES, SCOPES, SENDS, canonical
from closedloop.daemon.insight.periods import (
    day_start,
    local_day,
    next_start,
    period_start,
    previous_start,
)
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.rollups import scope_levels
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes.rollups import (
    BASE,
    current_fingerprint,
    fingerprint,
    read_counts,
)
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import to_db
from closedloop.daemon.store.sends import CURSORS, chunks
from closedloop.daemon.store.tables import Base

RESPONSE_THEMES: Table = Base.metadata.tables["response_themes"]
THEMES_CURSOR = ("insight", "themes")  # assign.CURSOR: its dictionary is what is stored
POOL = 20  # report.QUOTE_POOL
WALK_PAGE = 500  # answers read per step of the quotes' walk
LARGE = 20_000  # surveys in a scope beyond which the walk checks answers one by one
WALK_PAGES = 8  # then each theme still short of its pool is looked up by itself
Counts = tuple[dict[str, tuple[int, int]], dict[str, int], tuple[int, int, int]]


def _scope_keys(settings: ReportingSettings, viewer: Scope | None) -> list[str] | None:
    allowed = (viewer or Scope.ALL).allowed
    if not allowed:
        return [""]
    if len(allowed) > 1:
        return None
    [(name, values)] = allowed.items()
    level = canonical(name)
    if level not in scope_levels(settings):
        return None
    return [f"{level}={value}" for value in sorted(values)]


def _starts(since: date, until: date, grain: str) -> list[date] | None:
    """The period starts covering [since, until) exactly, or None."""
    if period_start(since, grain) != since:
        return None
    starts, current = [], since
    while current < until:
        starts.append(current)
        current = next_start(current, grain)
    return starts if current == until and starts else None


def _whole(since: date, until: date) -> tuple[str, list[date], list[date]] | None:
    for grain in ("week", "month"):
        starts = _starts(since, until, grain)
        if starts is None:
            continue
        previous = [previous_start(starts[0], grain)]
        while len(previous) < len(starts):
            previous.insert(0, previous_start(previous[0], grain))
        return grain, starts, previous
    return None


def counts(store: Store, settings: ReportingSettings, since: datetime, until: datetime,
           programs: Sequence[str], viewer: Scope | None,
           filters: Mapping[str, frozenset[str]] | None) -> Counts | None:
    """(theme -> (count, low) now, theme -> count before, (base, low, previous base)) from
    the rollups, or None when they cannot answer exactly (module doc)."""
    if filters:
        return None
    keys = _scope_keys(settings, viewer)
    zone = ZoneInfo(settings.timezone)
    first, end = local_day(since, zone), local_day(until, zone)
    if keys is None or day_start(first, zone) != since or day_start(end, zone) != until:
        return None
    whole = _whole(first, end)
    if whole is None:
        return None
    grain, starts, previous = whole
    with reading(store.engine) as conn:
        cursor = conn.scalar(select(CURSORS.c.value).where(
            CURSORS.c.source == THEMES_CURSOR[0], CURSORS.c.name == THEMES_CURSOR[1]))
        try:
            dictionary = str(json.loads(cursor or "{}").get("dictionary"))
        except ValueError:
            return None
        if current_fingerprint(conn) != fingerprint(settings, dictionary):
            return None
        now = read_counts(conn, grain, starts, programs, keys)
        before = read_counts(conn, grain, previous, programs, keys)
    base, low = now.pop(BASE, (0, 0))
    previous_base = before.pop(BASE, (0, 0))[0]
    return now, {k: n for k, (n, _) in before.items()}, (base, low, previous_base)


def large_scope(conn: Connection, allowed: Mapping[str, frozenset[str]],
                indexed: frozenset[str]) -> tuple[str, frozenset[str]] | None:
    """The scope's one indexed rule (level, values) when it holds more than LARGE surveys
    (the quotes' walk then sifts the newest answers rather than start from the scope's
    surveys); None otherwise."""
    if len(allowed) != 1:
        return None
    for name, values in allowed.items():
        if canonical(name) in indexed:
            held = conn.scalar(select(func.count()).select_from(
                select(SCOPES.c.send_id).where(SCOPES.c.segment == canonical(name),
                                               SCOPES.c.value.in_(sorted(values)))
                .limit(LARGE + 1).subquery()))
            if (held or 0) > LARGE:
                return canonical(name), values
    return None


def quotes(store: Store, themes: Sequence[str], since: datetime, until: datetime,
           conditions: Sequence[ColumnElement[bool]],
           sieve: tuple[str, frozenset[str], ColumnElement[bool]] | None = None
           ) -> dict[str, list[Any]]:
    """Per theme, its POOL most recent answers in the window (newest first): the newest
    answers are walked a page at a time (answered_at index) and each theme still short
    afterwards is looked up by itself (the rare ones: few rows). `sieve` (a large scope:
    its level, values and condition for the lookups) is checked a page at a time in
    report_scopes, so the walk stays on the answered_at index on both databases."""
    wanted = set(themes)
    pools: dict[str, list[Any]] = {t: [] for t in themes}
    columns = (RESPONSES.c.id, RESPONSES.c.send_id, RESPONSES.c.comment, RESPONSES.c.score,
               RESPONSES.c.category, RESPONSES.c.answered_at, SENDS.c.program)
    joined = RESPONSES.join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
    window = (RESPONSES.c.answered_at >= to_db(since), RESPONSES.c.answered_at < to_db(until),
              RESPONSES.c.comment.is_not(None), RESPONSES.c.comment != "", *conditions)
    size, pages = (WALK_PAGE, WALK_PAGES) if sieve is None else (4 * WALK_PAGE, 3 * WALK_PAGES)
    exhausted = False
    with reading(store.engine) as conn:
        last: Any | None = None
        for _ in range(pages):
            if not any(len(pools[t]) < POOL for t in wanted):
                break
            keys = (RESPONSES.c.id, RESPONSES.c.send_id, RESPONSES.c.answered_at)
            query = (select(*keys).select_from(joined if conditions else RESPONSES)
                     .where(*window)
                     .order_by(RESPONSES.c.answered_at.desc(), RESPONSES.c.id.desc())
                     .limit(size))
            if last is not None:
                query = query.where(or_(RESPONSES.c.answered_at < last.answered_at,
                                        and_(RESPONSES.c.answered_at == last.answered_at,
                                             RESPONSES.c.id < last.id)))
            read = conn.execute(query).all()
            page = read if sieve is None else _sifted(conn, read, sieve[0], sieve[1])
            by_id = {r.id: r for r in page}
            named: dict[int, list[str]] = {}
            for part in chunks(list(by_id)):
                for rid, theme in conn.execute(
                        select(RESPONSE_THEMES.c.response_id, RESPONSE_THEMES.c.theme)
                        .where(RESPONSE_THEMES.c.response_id.in_(part),
                               RESPONSE_THEMES.c.theme.in_(sorted(wanted)))):
                    named.setdefault(rid, []).append(theme)
            full = _full(conn, columns, joined, [r.id for r in page if r.id in named])
            for key in page:  # newest first
                for theme in named.get(key.id, ()):
                    if len(pools[theme]) < POOL:
                        pools[theme].append(full[key.id])
            if len(read) < size:
                exhausted = True
                break
            last = read[-1]
        if not exhausted:
            for theme in [t for t in themes if len(pools[t]) < POOL]:
                pools[theme] = list(conn.execute(
                    select(*columns)
                    .select_from(RESPONSE_THEMES.join(
                        RESPONSES, RESPONSES.c.id == RESPONSE_THEMES.c.response_id)
                        .join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
                    .where(RESPONSE_THEMES.c.theme == theme, *window,
                           *(() if sieve is None else (sieve[2],)))
                    .order_by(RESPONSES.c.answered_at.desc(), RESPONSES.c.id.desc())
                    .limit(POOL)).all())
    return pools


def _full(conn: Connection, columns: Sequence[Any], joined: Any, ids: Sequence[int]
          ) -> dict[int, Any]:
    """The quote columns of these answers, by id."""
    out: dict[int, Any] = {}
    for part in chunks(list(ids)):
        for row in conn.execute(select(*columns).select_from(joined)
                                .where(RESPONSES.c.id.in_(part))):
            out[row.id] = row
    return out


def _sifted(conn: Connection, rows: Sequence[Any], level: str, values: frozenset[str]
            ) -> list[Any]:
    """The rows whose survey has one of `values` at scope `level` (report_scopes' key)."""
    ids = {r.send_id for r in rows}
    passed: set[int] = set()
    for part in chunks(sorted(ids)):
        passed.update(conn.scalars(select(SCOPES.c.send_id).where(
            SCOPES.c.segment == level, SCOPES.c.value.in_(sorted(values)),
            SCOPES.c.send_id.in_(part))))
    return [r for r in rows if r.send_id in passed]
