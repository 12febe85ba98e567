"""Theme rollups: commented answers per week/month, scope key, program, type and theme.

The themes refresh keeps them (`update`) from what it assigns: each answer's fact (local
day in the reporting zone, unhappy or not, themes, scope keys) is kept in theme_facts, and
the counts move by the difference, so an edited comment, a re-score or a late change moves
exactly that answer's counts; `forget` takes them out (store/theme_counts.py). A change of
zone, scope levels or dictionary changes the fingerprint: the rollups are rebuilt from the
stored themes. `theme_report` reads them for windows of whole weeks or months (report.py).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    String,
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
    type_coerce,
)

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS, value_of
from closedloop.daemon.insight.rollup_facts import LocalDays, local_days
from closedloop.daemon.insight.rollups import scope_levels
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.sends import CURSORS, chunks, insert_for
from closedloop.daemon.store.tables import Base
from closedloop.daemon.store.theme_counts import (
    BASE,
    FACTS,
    ROLLUPS,
    Cell,
    ThemeFact,
    cells,
    fact_row,
    move,
    read_facts,
    write_deltas,
)

RESPONSE_THEMES: Table = Base.metadata.tables["response_themes"]
VERSION = 1
_LOCK = 0x0C10_7E3E  # PostgreSQL advisory lock: one writer of the theme rollups at a time
STATE = ("theme_rollups", "fingerprint")
LOW = ("detractor", "unsatisfied", "difficult")


def fingerprint(settings: ReportingSettings, dictionary: str) -> str:
    text_ = json.dumps([VERSION, settings.timezone, scope_levels(settings), dictionary])
    return hashlib.sha256(text_.encode()).hexdigest()[:16]


_FINGERPRINT = select(CURSORS.c.value).where(CURSORS.c.source == STATE[0],
                                             CURSORS.c.name == STATE[1])


def current_fingerprint(conn: Connection) -> str | None:
    return conn.scalar(_FINGERPRINT)


def invalidate(conn: Connection) -> None:
    conn.execute(delete(CURSORS).where(CURSORS.c.source == STATE[0],
                                       CURSORS.c.name == STATE[1]))


def _set_fingerprint(conn: Connection, value: str, now: datetime) -> None:
    stmt = insert_for(conn, CURSORS).values(source=STATE[0], name=STATE[1], value=value,
                                            updated_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["source", "name"],
                                            set_={"value": value, "updated_at": now}))


def _select(settings: ReportingSettings, raw: bool = False) -> Any:
    answered: Any = RESPONSES.c.answered_at
    if raw:  # SQLite's stored text, decoded once per quarter hour by LocalDays
        answered = type_coerce(answered, String)
    levels = [value_of(level, settings) for level in scope_levels(settings)]
    return (select(RESPONSES.c.id, RESPONSES.c.send_id, answered, RESPONSES.c.category,
                   SENDS.c.program, SENDS.c.survey_type, *levels)
            .select_from(RESPONSES.join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
            .where(RESPONSES.c.comment.is_not(None), RESPONSES.c.comment != ""))


def _fact(row: Sequence[Any], themes: Sequence[str], days: LocalDays,
          levels: Sequence[str]) -> ThemeFact | None:
    day = days(row[2])
    if day is None:
        return None
    scopes = ("", *(f"{level}={value or ''}" for level, value in zip(levels, row[6:],
                                                                       strict=True)))
    return ThemeFact(row[1], day, row[4], row[5], row[3] in LOW, tuple(sorted(themes)), scopes)


def update(conn: Connection, settings: ReportingSettings,
           assigned: Sequence[tuple[int, tuple[str, ...]]]) -> int:
    """Move the counts of these answers to their new themes and current answer. On
    PostgreSQL a transaction lock first: two refreshes of one batch (the CLI beside the
    daemon) then read each other's facts and never move a count twice."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    themes = dict(assigned)
    new: dict[int, ThemeFact | None] = dict.fromkeys(themes)
    days, levels = local_days(settings.timezone), scope_levels(settings)
    query = _update_select(settings, tuple(levels))
    for part in chunks(sorted(themes)):
        for row in conn.execute(query, {"b_ids": list(part)}):
            new[row[0]] = _fact(row, themes[row[0]], days, levels)
    return move(conn, read_facts(conn, list(themes)), new)


_UPDATE_SELECTS: dict[tuple[str, ...], Any] = {}  # scope levels -> `update`'s read


def _update_select(settings: ReportingSettings, levels: tuple[str, ...]) -> Any:
    """`_select` of some answers (ids as one expanding parameter), built once per set of
    scope levels (a level's expression depends on nothing else)."""
    query = _UPDATE_SELECTS.get(levels)
    if query is None:
        query = _UPDATE_SELECTS[levels] = _select(settings).where(
            RESPONSES.c.id.in_(bindparam("b_ids", expanding=True)))
    return query


def rebuild(store: Store, settings: ReportingSettings, dictionary: str, now: datetime) -> int:
    """Count every commented answer again from the stored themes; returns rollup rows."""
    days, levels = LocalDays(ZoneInfo(settings.timezone)), scope_levels(settings)
    with reading(store.engine) as conn:
        stored: dict[int, list[str]] = {}
        for rid, theme in conn.execute(select(RESPONSE_THEMES.c.response_id,
                                              RESPONSE_THEMES.c.theme)):
            stored.setdefault(rid, []).append(theme)
        raw = conn.dialect.name == "sqlite"
        facts: list[tuple[int, ThemeFact]] = []
        for row in conn.execution_options(yield_per=20_000).execute(_select(settings, raw)):
            fact = _fact(row, stored.get(row[0], ()), days, levels)
            if fact is not None:
                facts.append((row[0], fact))
    counts: Counter[Cell] = Counter()
    lows: Counter[Cell] = Counter()
    for _, fact in facts:
        counts.update(cells(fact))
        if fact.low:
            lows.update(cells(fact))
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        conn.execute(delete(FACTS))
        conn.execute(delete(ROLLUPS))
        for batch in chunks([fact_row(i, f) for i, f in facts], 1000):
            conn.execute(FACTS.insert(), list(batch))
        write_deltas(conn, {cell: [n, lows[cell]] for cell, n in counts.items()})
        _set_fingerprint(conn, fingerprint(settings, dictionary), now)
    get_logger(job="themes").info("themes.rollups_rebuilt", answers=len(facts),
                                  rows=len(counts))
    return len(counts)


def ensure(store: Store, settings: ReportingSettings, dictionary: str, now: datetime) -> bool:
    """Rebuild when the fingerprint changed; True if it did."""
    with reading(store.engine) as conn:
        if current_fingerprint(conn) == fingerprint(settings, dictionary):
            return False
    rebuild(store, settings, dictionary, now)
    return True


def read_counts(conn: Connection, grain: str, starts: Sequence[date], programs: Sequence[str],
                scopes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Theme -> (answers, unhappy) summed over these periods, programs and scope keys
    (BASE: every commented answer)."""
    query = (select(ROLLUPS.c.theme, func.sum(ROLLUPS.c.answers), func.sum(ROLLUPS.c.low))
             .where(ROLLUPS.c.grain == grain, ROLLUPS.c.scope.in_(list(scopes)),
                    ROLLUPS.c.period.in_(list(starts)))
             .group_by(ROLLUPS.c.theme))
    if programs:
        query = query.where(ROLLUPS.c.program.in_(list(programs)))
    return {theme: (int(n or 0), int(lo or 0)) for theme, n, lo in conn.execute(query)
            if n}


__all__ = ["BASE", "ensure", "fingerprint", "invalidate", "read_counts", "rebuild", "update"]
