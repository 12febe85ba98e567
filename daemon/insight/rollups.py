"""Report rollups kept as answers arrive: weekly and monthly counts per segment value.

`refresh` reads what changed since its cursors (answers changed or attributed, surveys
sent), turns each survey into a `Fact` (local days in the reporting zone, segment values)
and moves the counts by the difference with what was counted before (store/reports.py).
A change of the reporting zone or of the segment names changes the fingerprint, and the
rollups are rebuilt from the tables. Cursors re-read a margin (OVERLAP, SENT_OVERLAP)
behind themselves: a transaction that commits late with an earlier time is still seen,
and counting is idempotent (an unchanged fact moves nothing). Each counted fact keeps the
survey's columns it was computed from, as text (`seen`): within the margins the database
returns only the surveys whose columns differ from those, so a run at steady state reads
the few surveys that changed, not the last hour's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Connection, String, delete, func, select, text, type_coerce

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS, canonical
from closedloop.daemon.insight.rollup_counts import count_all, table_order
from closedloop.daemon.insight.rollup_facts import (
    COLUMNS,
    OVERLAP,
    SENT_OVERLAP,
    LocalDays,
    Window,
    dim_columns,
    fact_of,
    window_facts,
)
from closedloop.daemon.insight.segments import ANSWER_SEGMENT_KEYS, SEGMENT_KEYS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import iso
from closedloop.daemon.store.reports import (
    FACTS,
    ROLLUPS,
    SCOPES,
    STATE,
    Fact,
    bulk_insert,
    fact_values,
    move_facts,
    write_scopes,
)
from closedloop.daemon.store.sends import CURSORS, insert_for

log = structlog.get_logger(__name__)

VERSION = 3  # bump when what a fact or a rollup row holds changes: the rollups are rebuilt
# (3: rows summed across programs, program ALL_PROGRAMS)
_LOCK = 0x0C10_5E27  # PostgreSQL advisory lock: one refresh at a time across replicas
# Built once (the every-minute check and refresh run them; building a statement and its
# cache key cost more CPU than SQLite running it): the state rows, and the three marks in
# one statement.
_STATE_ROWS = select(CURSORS.c.name, CURSORS.c.value).where(CURSORS.c.source == STATE)
_MARKS = select(select(func.max(RESPONSES.c.updated_at)).scalar_subquery(),
                select(func.max(RESPONSES.c.attributed_at)).scalar_subquery(),
                select(func.max(SENDS.c.sent_at)).scalar_subquery())


def names(settings: ReportingSettings) -> list[str]:
    """Segment names counted, once each (brand is pipeline, group is team), then custom."""
    seen: dict[str, str] = {}
    for name, column in (*SEGMENT_KEYS.items(), *ANSWER_SEGMENT_KEYS.items()):
        seen.setdefault(column, name)
    return [*seen.values(), *settings.segments]


def scope_levels(settings: ReportingSettings) -> list[str]:
    """The dashboard's scope levels, by the names the rollups count them under."""
    return [canonical(level) for level in settings.scope]


def _scope_pairs(fact: Fact | None, positions: Sequence[tuple[str, int]]
                 ) -> list[tuple[str, str]]:
    return [] if fact is None else [(level, fact.dims[i]) for level, i in positions]


def _positions(settings: ReportingSettings) -> list[tuple[str, int]]:
    counted = names(settings)
    return [(level, counted.index(level)) for level in scope_levels(settings)]


def fingerprint(settings: ReportingSettings) -> str:
    text_ = json.dumps([VERSION, settings.timezone, names(settings), scope_levels(settings)])
    return hashlib.sha256(text_.encode()).hexdigest()[:16]


def _select(settings: ReportingSettings, raw: bool = False) -> Any:
    """sends ⟕ responses with the fact's columns; `raw` reads times and JSON as stored
    (text on SQLite) for LocalDays and _parsed to decode once per distinct value."""
    return _select_of(tuple(names(settings)), raw)


@lru_cache(maxsize=16)
def _select_of(counted: tuple[str, ...], raw: bool) -> Any:
    """`_select` built once per set of segment names (it depends on nothing else)."""
    columns: list[Any] = [*COLUMNS, *dim_columns(counted)]
    if raw:
        columns = [type_coerce(c, String) if c.name in ("sent_at", "answered_at", "segments")
                   else c for c in columns]
    return (select(*columns)
            .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
            .where(SENDS.c.kind == "survey"))


def read_state(conn: Connection) -> dict[str, str]:
    return {row[0]: row[1] for row in conn.execute(_STATE_ROWS)}


_PUT_STATE: dict[str, Any] = {}  # dialect -> the state rows' upsert, built once


def _set_state(conn: Connection, values: dict[str, str], now: datetime) -> None:
    """Upsert the state rows in one call (a statement built per row was a tenth of a
    refresh)."""
    stmt = _PUT_STATE.get(conn.dialect.name)
    if stmt is None:
        insert = insert_for(conn, CURSORS)
        stmt = _PUT_STATE[conn.dialect.name] = insert.on_conflict_do_update(
            index_elements=["source", "name"],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at})
    conn.execute(stmt, [{"source": STATE, "name": name, "value": value, "updated_at": now}
                        for name, value in values.items()])


def _marks(conn: Connection) -> dict[str, str]:
    """The newest answer change, attribution and send time: the cursors' next values."""
    found = conn.execute(_MARKS).one()
    return {k: iso(v) or "" for k, v in zip(("answers", "attributed", "sent"), found,
                                            strict=True)}


@dataclass
class Verified:
    """When a read-only `settled` last found the margins' facts equal to the counted ones,
    and the marks then (kept by the caller between runs: nothing is written)."""
    marks: dict[str, str] = field(default_factory=dict)
    at: datetime | None = None


def settled(store: Store, settings: ReportingSettings, now: datetime,
            verified: Verified | None = None) -> bool:
    """True when a thorough `refresh` now would move nothing, read without a write or a lock.

    It holds when the rollups are current (same fingerprint), no answer, attribution or send
    was stamped after the last refresh's marks, and every mark is older than that refresh's
    time minus its margin: a write committed since then is stamped within its margin of the
    commit (the margins' own premise), so it would have moved a mark. Within a margin (a
    survey sent in the last hour, say) the margins' facts are read and compared with the
    counted ones: equal, nothing would move, and `verified` remembers that time as if a
    refresh had run then. A quiet source costs the minute-job a few reads."""
    with reading(store.engine) as conn:
        state = read_state(conn)
        marks = _marks(conn)
        refreshed = state.get("refreshed_at")
        if state.get("fingerprint") != fingerprint(settings) or not refreshed:
            return False
        if any(marks[name] != state.get(name) for name in marks):
            return False
        at = datetime.fromisoformat(refreshed)
        if verified is not None and verified.at is not None and verified.marks == marks:
            at = max(at, verified.at)
        if all(not marks[name] or datetime.fromisoformat(marks[name]) < at - margin
               for name, margin in (("answers", OVERLAP), ("attributed", OVERLAP),
                                    ("sent", SENT_OVERLAP))):
            return True
        window = _window(conn, settings, state)
        if any(window.old.get(i) != fact for i, fact in window.new.items()):
            return False
    if verified is not None:
        verified.marks, verified.at = marks, now
    return True


def _window(conn: Connection, settings: ReportingSettings, state: dict[str, str]) -> Window:
    return window_facts(conn, tuple(names(settings)), list(settings.segments),
                        settings.timezone, state)


def is_current(conn: Connection, settings: ReportingSettings) -> bool:
    return read_state(conn).get("fingerprint") == fingerprint(settings)


def refresh(store: Store, settings: ReportingSettings, now: datetime,
            thorough: bool = True) -> int:
    """Bring the rollups up to date; returns how many rollup rows moved.

    `thorough` (the scheduled job) also re-reads the margins behind the cursors; without it
    (before a query) nothing is done unless something newer than the cursors exists.
    The job's run reads the state once, in its write transaction (it comes after
    `settled`, which read it already).
    """
    if not thorough:
        with reading(store.engine) as conn:
            state = read_state(conn)
            marks = _marks(conn)
        if state.get("fingerprint") != fingerprint(settings):
            return rebuild(store, settings, now)
        if all(marks[k] <= state.get(k, "") for k in marks):
            return 0
    moved = _refresh_margins(store, settings, now)
    return rebuild(store, settings, now) if moved is None else moved


def _refresh_margins(store: Store, settings: ReportingSettings, now: datetime) -> int | None:
    """`refresh`'s write: the facts within the cursors' margins moved; None (nothing
    written) when the rollups were built with other settings, or never."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        state = read_state(conn)
        if state.get("fingerprint") != fingerprint(settings):
            return None
        marks = _marks(conn)
        window = _window(conn, settings, state)
        new = window.new
        positions = _positions(settings)
        moved = move_facts(conn, names(settings), window.old, new, positions, window.seen)
        if positions:
            write_scopes(conn, {i: _scope_pairs(f, positions) for i, f in new.items()})
        _set_state(conn, {**marks, "max_day": _max_day(state.get("max_day"), new.values()),
                          "refreshed_at": iso(now) or ""}, now)
    if moved:
        log.debug("report.refreshed", surveys=len(new), rows=moved)
    return moved


def _max_day(before: str | None, facts: Iterable[Fact | None]) -> str:
    days = [d for f in facts if f is not None for d in (f.sent_day, f.answer_day) if d]
    best = max([*days, *([date.fromisoformat(before)] if before else [])], default=None)
    return best.isoformat() if best else ""


def rebuild(store: Store, settings: ReportingSettings, now: datetime) -> int:
    """Count everything again (first run, or the zone or segment names changed).

    Read in one read transaction (writers go on), counted column-wise with Counter, then
    written in one short write: the old rows out, the new in (COPY on PostgreSQL).
    """
    zone, custom, dim_names = ZoneInfo(settings.timezone), list(settings.segments), names(settings)
    days = LocalDays(zone)
    facts: list[tuple[int, Fact]] = []
    with reading(store.engine) as conn:
        marks = _marks(conn)
        raw = conn.dialect.name == "sqlite"
        result = conn.execution_options(yield_per=20_000).execute(_select(settings, raw))
        for row in result:
            fact = fact_of(row, custom, days)
            if fact is not None:
                facts.append((row[0], fact))
    positions = _positions(settings)
    cells = count_all([f for _, f in facts], dim_names, positions)
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        conn.execute(delete(FACTS))
        conn.execute(delete(ROLLUPS))
        conn.execute(delete(SCOPES))
        bulk_insert(conn, SCOPES, ((level, fact.dims[i], send_id) for send_id, fact in facts
                                   for level, i in positions))
        bulk_insert(conn, FACTS, (fact_values(i, f) for i, f in facts))
        bulk_insert(conn, ROLLUPS, ((*k, *cells[k]) for k in sorted(cells, key=table_order)))
        _set_state(conn, {**marks, "fingerprint": fingerprint(settings),
                          "names": json.dumps(dim_names),
                          "levels": json.dumps(positions),
                          "max_day": _max_day(None, (f for _, f in facts)),
                          "refreshed_at": iso(now) or ""}, now)
    log.info("report.rebuilt", surveys=len(facts), rows=len(cells))
    return len(cells)


def indexed_levels(conn: Connection, settings: ReportingSettings) -> frozenset[str]:
    """Scope levels whose report_scopes rows are current (empty until a rebuild)."""
    if read_state(conn).get("fingerprint") != fingerprint(settings):
        return frozenset()
    return frozenset(scope_levels(settings))
