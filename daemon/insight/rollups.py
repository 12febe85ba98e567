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
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import (
    Connection,
    String,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    type_coerce,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS, canonical
from closedloop.daemon.insight.rollup_counts import count_all, table_order
from closedloop.daemon.insight.segments import ANSWER_SEGMENT_KEYS, SEGMENT_KEYS
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.stats import category_rank
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db, iso
from closedloop.daemon.store.reports import (
    FACT_COLUMNS,
    FACTS,
    ROLLUPS,
    SCOPES,
    STATE,
    Fact,
    bulk_insert,
    fact_values,
    move_facts,
    stored_fact,
    write_scopes,
)
from closedloop.daemon.store.sends import CURSORS, insert_for

log = structlog.get_logger(__name__)

VERSION = 3  # bump when what a fact or a rollup row holds changes: the rollups are rebuilt
# (3: rows summed across programs, program ALL_PROGRAMS)
SENT = ("sent", "outcome_unknown")
OVERLAP = timedelta(minutes=5)
SENT_OVERLAP = timedelta(hours=1)  # outcome_unknown can be settled a lease after sent_at
_LOCK = 0x0C10_5E27  # PostgreSQL advisory lock: one refresh at a time across replicas
_COLUMNS = (SENDS.c.id, SENDS.c.program, SENDS.c.survey_type, SENDS.c.status, SENDS.c.sent_at,
            RESPONSES.c.answered_at, RESPONSES.c.score, RESPONSES.c.category)
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


def _dim_columns(counted: Sequence[str]) -> list[Any]:
    cols: list[Any] = []
    for name in counted:
        if name in SEGMENT_KEYS:
            cols.append(SENDS.c[SEGMENT_KEYS[name]])
        elif name in ANSWER_SEGMENT_KEYS:
            cols.append(RESPONSES.c[ANSWER_SEGMENT_KEYS[name]])
    return [*cols, SENDS.c.segments]


class LocalDays:
    """UTC instant -> local day, cached per quarter hour (every zone offset is a multiple).

    Takes a datetime, or SQLite's stored text ("2026-11-03 10:15:00.000000", naive UTC):
    a rebuild reads that text as is and parses one value per quarter hour, not per row.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.cache: dict[object, date] = {}

    def __call__(self, moment: datetime | str | None) -> date | None:
        if moment is None:
            return None
        if isinstance(moment, str):
            key: object = moment[:14] + "0123"[int(moment[14:16] or 0) // 15]
            day = self.cache.get(key)
            if day is None:
                day = self.cache[key] = self._local(datetime.fromisoformat(moment))
            return day
        if moment.tzinfo is not None and moment.utcoffset():
            moment = moment.astimezone(UTC)
        key = (moment.year, moment.month, moment.day, moment.hour, moment.minute // 15)
        day = self.cache.get(key)
        if day is None:
            day = self.cache[key] = self._local(moment)
        return day

    def _local(self, moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(self.zone).date()


def fact_of(row: Sequence[Any], custom: Sequence[str], days: LocalDays) -> Fact | None:
    """The fact of one (sends ⟕ responses) row; None when the survey counts for nothing."""
    _, program, survey_type, status, sent_at, answered_at, score, category = row[:8]
    sent_day = days(sent_at) if status in SENT else None
    answer_day = days(answered_at)
    if sent_day is None and answer_day is None:
        return None
    builtin = [v or "" for v in row[8:-1]]
    extra = row[-1] or {}
    if isinstance(extra, str):  # SQLite's JSON text, read raw by a rebuild
        extra = _parsed(extra)
    dims = (*builtin, *(str(extra.get(name) or "") for name in custom))
    return Fact(program, survey_type, sent_day, answered_at is not None, answer_day, score,
                None if category is None else category_rank(survey_type, category), dims)


@lru_cache(maxsize=4096)
def _parsed(text_: str) -> dict[str, Any]:
    value = json.loads(text_)
    return value if isinstance(value, dict) else {}


def _select(settings: ReportingSettings, raw: bool = False) -> Any:
    """sends ⟕ responses with the fact's columns; `raw` reads times and JSON as stored
    (text on SQLite) for LocalDays and _parsed to decode once per distinct value."""
    return _select_of(tuple(names(settings)), raw)


@lru_cache(maxsize=16)
def _select_of(counted: tuple[str, ...], raw: bool) -> Any:
    """`_select` built once per set of segment names (it depends on nothing else)."""
    columns: list[Any] = [*_COLUMNS, *_dim_columns(counted)]
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
        window = _window_facts(conn, settings, state)
        if any(window.old.get(i) != fact for i, fact in window.new.items()):
            return False
    if verified is not None:
        verified.marks, verified.at = marks, now
    return True


@dataclass
class Window:
    """The surveys of the cursors' margins not counted as they are now: their facts now,
    as counted (report_facts), and the columns each new fact is computed from (`seen`)."""
    new: dict[int, Fact | None] = field(default_factory=dict)
    old: dict[int, Fact] = field(default_factory=dict)
    seen: dict[int, str] = field(default_factory=dict)


def _window_facts(conn: Connection, settings: ReportingSettings, state: dict[str, str]
                  ) -> Window:
    """The surveys changed within the cursors' margins, in one read (surveys only: nothing
    else has a fact). A survey whose columns are those its counted fact was computed from
    (report_facts.seen) is left out by the database: the same columns make the same fact
    (the fingerprint fixes the zone and the segment names), so it would move nothing."""
    query, width = _window_select(tuple(names(settings)))
    days = local_days(settings.timezone)
    custom = list(settings.segments)
    found = Window()
    for row in conn.execute(query, _since(state)):
        send_id = row[0]
        fact = found.new[send_id] = fact_of(row[:width], custom, days)
        if row[width] is not None:
            found.old[send_id] = stored_fact(row[width + 1:width + len(FACT_COLUMNS)])
        if fact is not None:
            found.seen[send_id] = row[-1]
    return found


def local_days(zone: str) -> LocalDays:
    """One LocalDays per zone for the process (the every-minute refreshes' days hit its
    cache), its cache emptied now and then (a quarter hour each: bounded in a daemon)."""
    days = _local_days(zone)
    if len(days.cache) > 50_000:
        days.cache.clear()
    return days


@lru_cache(maxsize=8)
def _local_days(zone: str) -> LocalDays:
    return LocalDays(ZoneInfo(zone))


class _Seen(FunctionElement[str]):
    """Several values as one JSON array's text (strings quoted and escaped, NULL as null):
    equal texts, equal values. JSON, not concatenated literals: SQLite builds it in a
    quarter of the time, and the margins' every survey is compared each run."""
    type = String()
    inherit_cache = True


@compiles(_Seen, "sqlite")
def _seen_sqlite(element: _Seen, compiler: Any, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"


@compiles(_Seen, "postgresql")
def _seen_postgresql(element: _Seen, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_build_array({compiler.process(element.clauses, **kw)}) AS TEXT)"


def _seen_of(own: Sequence[Any]) -> Any:
    """The survey's columns a fact is computed from (all but the id), as one text."""
    return _Seen(*own[1:])


@lru_cache(maxsize=16)
def _window_select(counted: tuple[str, ...]) -> tuple[Any, int]:
    """The margins' surveys not counted as they are (`_select`'s columns, then their counted
    fact, report_facts ⟕, then their columns as text), built once with the cursors as
    parameters; and how many columns are the survey's own."""
    own = [*_COLUMNS, *_dim_columns(counted)]
    seen = _seen_of(own)
    return (select(*own, *FACT_COLUMNS, seen)
            .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                         .outerjoin(FACTS, FACTS.c.send_id == SENDS.c.id))
            .where(SENDS.c.kind == "survey", SENDS.c.id.in_(_CHANGED),
                   or_(FACTS.c.seen.is_(None), FACTS.c.seen != seen))), len(own)


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
        window = _window_facts(conn, settings, state)
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


# The ids of the surveys changed since the cursors less their margins (a subquery; its
# parameters are `_since`'s)
_CHANGED = union(
    select(RESPONSES.c.send_id).where(or_(
        RESPONSES.c.updated_at >= bindparam("b_answers", type_=RESPONSES.c.updated_at.type),
        RESPONSES.c.attributed_at >= bindparam("b_attributed",
                                               type_=RESPONSES.c.attributed_at.type))),
    select(SENDS.c.id).where(SENDS.c.sent_at >= bindparam("b_sent", type_=SENDS.c.sent_at.type),
                             SENDS.c.kind == "survey"))


def _since(state: dict[str, str]) -> dict[str, datetime]:
    """`_CHANGED`'s parameters: each cursor less its margin (the epoch when never set)."""
    def since(name: str, margin: timedelta) -> datetime:
        value = state.get(name)
        return (from_db(datetime.fromisoformat(value)) - margin if value
                else datetime(1970, 1, 1, tzinfo=UTC))

    return {"b_answers": since("answers", OVERLAP), "b_attributed": since("attributed", OVERLAP),
            "b_sent": since("sent", SENT_OVERLAP)}


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
