"""The report rollups' tables: weekly and monthly counts, and what each survey added to them.

`report_facts` keeps, per survey, what the rollups counted (local days, score, segment
values); a change is applied as "minus the old fact, plus the new one", so a re-score, a
late attribution or `forget` moves exactly the counts it should, whatever ran before. The
insight layer (insight/rollups.py) decides what a fact is (time zone, segments); this
module only adds and removes counts, and is what `forget` calls inside its transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from closedloop.daemon.store.sends import CURSORS, chunks, insert_for
from closedloop.daemon.store.tables import Base

FACTS: Table = Base.metadata.tables["report_facts"]
ROLLUPS: Table = Base.metadata.tables["report_rollups"]
SCOPES: Table = Base.metadata.tables["report_scopes"]
# A fact's own columns (send_id first), without `seen` (what it was computed from)
FACT_COLUMNS = tuple(c for c in FACTS.c if c.name != "seen")
GRAINS = ("week", "month")
KEY = ("grain", "segment", "period", "survey_type", "value", "program")
COUNTS = ("sent", "answered", "n", "low", "high", "total", "squares",
          *(f"s{i}" for i in range(11)))
SCORE_AT = COUNTS.index("s0")
# report_rollups.program of the rows summed across every program of a survey type: a report
# of all programs of a type reads one row per cell, with no GROUP BY (a program name is never
# empty: config.ProgramName)
ALL_PROGRAMS = ""
STATE = "report"  # cursors.source of the rollups' own state (fingerprint, names, cursors)
# Segments a forgotten answer takes with it (scrubbed from the send, or read from the answer)
FORGOTTEN_DIMS = ("language", "owner_at_answer", "team_at_answer")

Cell = tuple[str, str, date, str, str, str]  # KEY values, in KEY order
Levels = Sequence[tuple[str, int]]  # scope levels counted across: (name, index in dims)
SEGMENT_WIDTH = 64  # report_rollups.segment is VARCHAR(64)


def cross_segment(level: str, value: str, name: str) -> str:
    """The rollup segment counting `name`'s values within one scope value (`level` = value),
    so a region or store viewer's grouped report reads rollups, not the tables. A key too
    long for the column is replaced by a digest of it (the same on write and read)."""
    key = f"{name}@{level}={value}"
    if len(key) <= SEGMENT_WIDTH:
        return key
    return f"{name[:20]}@{level[:16]}#{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def cross_pairs(dims: Sequence[str], names: Sequence[str],
                levels: Levels) -> list[tuple[str, str]]:
    """(cross segment, value) of every other segment within each scope level's value."""
    return [(cross_segment(level, dims[at], name), dims[i])
            for level, at in levels for i, name in enumerate(names) if i != at]


class Fact(NamedTuple):
    """What one survey counts for: sent (on a local day), answered, and its answer (a named
    tuple: a rebuild makes a million of them)."""

    program: str
    survey_type: str
    sent_day: date | None
    answered: bool
    answer_day: date | None
    score: int | None
    rank: int | None
    dims: tuple[str, ...]


def grain_start(day: date, grain: str) -> date:
    """Monday of the ISO week, or the first of the month."""
    return date.fromordinal(day.toordinal() - day.weekday()) if grain == "week" \
        else day.replace(day=1)


def add_fact(fact: Fact, names: Sequence[str], sign: int,
             into: dict[Cell, list[int]], levels: Levels = ()) -> None:
    """Add (sign 1) or remove (sign -1) one fact's counts to cells in `into`, under its
    program and under ALL_PROGRAMS."""
    pairs = [(segment, value, program)
             for segment, value in [("", ""), *zip(names, fact.dims, strict=True),
                                    *cross_pairs(fact.dims, names, levels)]
             for program in (fact.program, ALL_PROGRAMS)]
    for grain in GRAINS:
        if fact.sent_day is not None:
            period = grain_start(fact.sent_day, grain)
            for segment, value, program in pairs:
                key = (grain, segment, period, fact.survey_type, value, program)
                counts = into.setdefault(key, [0] * len(COUNTS))
                counts[0] += sign
                counts[1] += sign if fact.answered else 0
        if fact.answer_day is not None and fact.score is not None:
            period = grain_start(fact.answer_day, grain)
            for segment, value, program in pairs:
                key = (grain, segment, period, fact.survey_type, value, program)
                counts = into.setdefault(key, [0] * len(COUNTS))
                counts[2] += sign
                counts[3] += sign if fact.rank == 0 else 0
                counts[4] += sign if fact.rank == 2 else 0
                counts[5] += sign * fact.score
                counts[6] += sign * fact.score * fact.score
                counts[SCORE_AT + fact.score] += sign


_UPSERTS: dict[tuple[str, ...], Any] = {}  # (dialect, table, index...) -> its upsert, built once


def _upsert(conn: Connection, table: Any, index: list[str],
            set_: Callable[[Any], dict[str, Any]]) -> Any:
    """`table`'s INSERT .. ON CONFLICT (index) DO UPDATE SET set_(insert), built once per
    dialect."""
    key = (conn.dialect.name, table.name, *index)  # one upsert per table and conflict target
    stmt = _UPSERTS.get(key)
    if stmt is None:
        insert = insert_for(conn, table)
        stmt = _UPSERTS[key] = insert.on_conflict_do_update(index_elements=index,
                                                             set_=set_(insert))
    return stmt


def _add_counts(conn: Connection) -> Any:
    """INSERT into report_rollups, adding the counts to a row already there."""
    return _upsert(conn, ROLLUPS, list(KEY),
                   lambda insert: {c: ROLLUPS.c[c] + insert.excluded[c] for c in COUNTS})


def _put_facts(conn: Connection) -> Any:
    """INSERT into report_facts, replacing a survey's row already there."""
    return _upsert(conn, FACTS, ["send_id"], lambda insert: {
        c.name: insert.excluded[c.name] for c in FACTS.c if c.name != "send_id"})


_CELL_COLUMNS = (*KEY, *COUNTS)


_ADD_SQL: dict[str, tuple[str, tuple[str, ...] | None]] = {}  # dialect -> _add_counts' SQL


def _add_counts_sql(conn: Connection) -> tuple[str, tuple[str, ...] | None]:
    """`_add_counts` compiled once per dialect, and its parameters' order when positional
    (SQLite): a refresh adds a few dozen rows, and SQLAlchemy's per-row parameter
    processing cost more than the database's upserts."""
    found = _ADD_SQL.get(conn.dialect.name)
    if found is None:
        compiled = _add_counts(conn).compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup) if compiled.positional and \
            compiled.positiontup else None
        found = _ADD_SQL[conn.dialect.name] = (str(compiled), order)
    return found


def apply_counts(conn: Connection, cells: Mapping[Cell, Sequence[int]]) -> int:
    """Add each cell's counts to its rollup row (created at zero); returns rows touched.
    Through the driver: periods as ISO text on SQLite (as SQLAlchemy stores them)."""
    sql, order = _add_counts_sql(conn)
    rows: list[Any] = []
    if order == _CELL_COLUMNS:  # SQLite: a tuple in column order, the period as ISO text
        rows = [(grain, segment, period.isoformat(), *rest, *counts)
                for (grain, segment, period, *rest), counts in cells.items() if any(counts)]
    else:
        for key, counts in cells.items():
            if any(counts):
                values = dict(zip(_CELL_COLUMNS, (*key, *counts), strict=True))
                rows.append(values if order is None else
                            tuple(_sqlite_value(values[name]) for name in order))
    for part in chunks(rows, 1000):
        conn.exec_driver_sql(sql, list(part))
    return len(rows)


def bulk_insert(conn: Connection, table: Table, rows: Iterable[Sequence[Any]]) -> int:
    """Insert many rows fast, each a tuple in the table's column order: COPY on
    PostgreSQL (JSON columns as JSON text), the driver's executemany on SQLite with values
    in the form SQLAlchemy stores them. Returns the row count."""
    names = [c.name for c in table.c]
    count = 0
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[attr-defined]
                f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    sql = str(table.insert().compile(dialect=conn.dialect))  # every column, in order
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(_sqlite_value(v) for v in row))
        if len(batch) >= 20_000:
            conn.exec_driver_sql(sql, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)
        count += len(batch)
    return count


def _sqlite_value(value: Any) -> Any:
    """The stored form of SQLAlchemy's SQLite types: naive UTC text, ISO dates, JSON text."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def fact_values(send_id: int, fact: Fact) -> tuple[Any, ...]:
    """A report_facts row in column order (`seen` NULL: compared in full next time)."""
    return (send_id, fact.program, fact.survey_type, fact.sent_day, fact.answered,
            fact.answer_day, fact.score, fact.rank,
            json.dumps(fact.dims, ensure_ascii=False, separators=(",", ":")), None)


def fact_row(send_id: int, fact: Fact, seen: str | None = None) -> dict[str, Any]:
    return {"send_id": send_id, "program": fact.program, "survey_type": fact.survey_type,
            "sent_day": fact.sent_day, "answered": fact.answered,
            "answer_day": fact.answer_day, "score": fact.score, "rank": fact.rank,
            "dims": json.dumps(fact.dims, ensure_ascii=False, separators=(",", ":")),
            "seen": seen}


def read_facts(conn: Connection, send_ids: Iterable[int]) -> dict[int, Fact]:
    found: dict[int, Fact] = {}
    for part in chunks(sorted(set(send_ids))):
        for row in conn.execute(select(*FACT_COLUMNS).where(FACTS.c.send_id.in_(part))):
            found[row.send_id] = stored_fact(row[1:])
    return found


def stored_fact(row: Sequence[Any]) -> Fact:
    """The Fact of a report_facts row's columns after send_id (in FACT_COLUMNS order)."""
    program, survey_type, sent_day, answered, answer_day, score, rank, dims = row
    return Fact(program, survey_type, sent_day, bool(answered), answer_day, score, rank,
                _dims(dims))


@lru_cache(maxsize=4096)
def _dims(text: str) -> tuple[str, ...]:
    """A stored `dims` list as a tuple, decoded once per distinct text (few distinct)."""
    return tuple(json.loads(text))


def write_facts(conn: Connection, facts: Mapping[int, Fact | None],
                seen: Mapping[int, str] | None = None) -> None:
    """Upsert the new facts with the columns they were computed from (`seen`, NULL when
    not given); a survey that counts for nothing any more loses its row."""
    gone = [send_id for send_id, fact in facts.items() if fact is None]
    for part in chunks(gone):
        conn.execute(delete(FACTS).where(FACTS.c.send_id.in_(part)))
    known = seen or {}
    rows = [fact_row(send_id, fact, known.get(send_id))
            for send_id, fact in facts.items() if fact is not None]
    for batch in chunks(rows, 1000):
        conn.execute(_put_facts(conn), list(batch))


_PUT_SEEN = (update(FACTS).where(FACTS.c.send_id == bindparam("b_send_id"))
             .values(seen=bindparam("b_seen")))


def move_facts(conn: Connection, names: Sequence[str], old: Mapping[int, Fact],
               new: Mapping[int, Fact | None], levels: Levels = (),
               seen: Mapping[int, str] | None = None) -> int:
    """Replace old facts by new ones in the rollups and in report_facts; rows touched.

    `seen` (a refresh): the columns each new fact was computed from, stored with it, and on
    the rows whose fact did not change (so the next refresh skips them)."""
    cells: dict[Cell, list[int]] = {}
    changed: dict[int, Fact | None] = {}
    for send_id, fact in new.items():
        before = old.get(send_id)
        if before == fact:
            continue
        if before is not None:
            add_fact(before, names, -1, cells, levels)
        if fact is not None:
            add_fact(fact, names, 1, cells, levels)
        changed[send_id] = fact
    write_facts(conn, changed, seen)
    if seen:
        same = [{"b_send_id": i, "b_seen": text} for i, text in seen.items()
                if i not in changed and i in old]
        if same:
            conn.execute(_PUT_SEEN, same)
    return apply_counts(conn, cells)


def counted_names(conn: Connection) -> list[str] | None:
    """The segment names (in `dims` order) the rollups were built with; None: never built."""
    value = conn.scalar(select(CURSORS.c.value).where(CURSORS.c.source == STATE,
                                                      CURSORS.c.name == "names"))
    return None if value is None else list(json.loads(value))


def counted_levels(conn: Connection) -> list[tuple[str, int]]:
    """The scope levels (name, index in dims) the rollups count other segments across."""
    value = conn.scalar(select(CURSORS.c.value).where(CURSORS.c.source == STATE,
                                                      CURSORS.c.name == "levels"))
    return [] if value is None else [(str(n), int(i)) for n, i in json.loads(value)]


def forget_counted(conn: Connection, send_ids: Sequence[int]) -> int:
    """`forget`: their answers leave report_facts and the rollups (the surveys still count
    as sent: they were), along with the segment values the answer or the person carried."""
    names = counted_names(conn)
    if names is None:
        return 0
    old = read_facts(conn, send_ids)
    blank = {i for i, name in enumerate(names) if name in FORGOTTEN_DIMS}
    new: dict[int, Fact | None] = {}
    for send_id, fact in old.items():
        dims = tuple("" if i in blank else v for i, v in enumerate(fact.dims))
        kept = fact._replace(answered=False, answer_day=None, score=None, rank=None, dims=dims)
        new[send_id] = kept if kept.sent_day is not None else None
    return move_facts(conn, names, old, new, counted_levels(conn))


def write_scopes(conn: Connection, rows: Mapping[int, Sequence[tuple[str, str]]]) -> None:
    """Replace the scope rows of these surveys by (segment, value) pairs (none: gone)."""
    for part in chunks(sorted(rows)):
        conn.execute(delete(SCOPES).where(SCOPES.c.send_id.in_(part)))
    fresh = [{"segment": segment, "value": value, "send_id": send_id}
             for send_id, pairs in rows.items() for segment, value in pairs]
    for batch in chunks(fresh, 1000):
        conn.execute(SCOPES.insert(), list(batch))
