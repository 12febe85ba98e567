"""The group-commit writer's statements for a batch of answers, on the driver's own cursor.

Each statement is compiled by SQLAlchemy once per dialect (and per IN-list length), its
parameters converted by the columns' own bind processors and its RETURNING rows by their
result processors: the same SQL, values and rows as SQLAlchemy's execution, without the
work SQLAlchemy does around each execution (the cache lookup, the parameter and result
machinery, the events), which was most of the writer's CPU per answer. The statements run
on the caller's connection, inside its transaction and savepoint; the tables written are
told to the store's write counter (store/wakes.py) as an executed statement would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Dialect, bindparam
from sqlalchemy.sql.expression import ClauseElement

from closedloop.daemon.store.answer_statements import (
    EVENTS,
    RESPONSES,
    WRITEBACKS,
    answer_statements,
    batch_lookup,
)
from closedloop.daemon.store.sends import SENDS
from closedloop.daemon.store.wakes import mark_written

Row = dict[str, Any]
_SEND_COLUMNS = list(SENDS.c)


class _Compiled:
    """One statement compiled for a dialect: its SQL and how to bind a dict of values."""

    def __init__(self, stmt: ClauseElement, dialect: Dialect,
                 keys: Sequence[str] | None = None) -> None:
        compiled: Any = stmt.compile(dialect=dialect,  # a SQLCompiler: its binds' details
                                     column_keys=list(keys) if keys else None)
        self.sql = compiled.string
        self._fixed = compiled.construct_params(_check=False)  # its literals ("pending", 1)
        self._names = list(compiled.positiontup) if compiled.positional else None
        self._convert = dict(compiled._bind_processors)

    def defaults(self, values: Mapping[str, Any]) -> None:
        self._fixed.update({k: v for k, v in values.items() if k in self._fixed})

    def bind(self, values: Mapping[str, Any]) -> Any:
        full = {**self._fixed, **values}
        for name, convert in self._convert.items():
            if name in full:
                full[name] = convert(full[name])
        return full if self._names is None else tuple(full[n] for n in self._names)


def _converters(columns: Iterable[Any], dialect: Dialect
                ) -> list[tuple[str, Callable[[Any], Any] | None]]:
    return [(c.name, c.type.dialect_impl(dialect).result_processor(dialect, None))
            for c in columns]


def _row(converters: list[tuple[str, Callable[[Any], Any] | None]], raw: Sequence[Any]) -> Row:
    return {name: value if convert is None or value is None else convert(value)
            for (name, convert), value in zip(converters, raw, strict=True)}


class _Statements:
    """What one dialect's batches need, compiled once (IN lists: once per length)."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect
        self.postgresql = conn.dialect.name == "postgresql"
        stmts = answer_statements(conn)
        self.upsert = _Compiled(stmts.upsert, self.dialect)
        self.follow_up = _Compiled(stmts.follow_up, self.dialect)
        self.hook_update = _Compiled(stmts.hook_update, self.dialect)
        self.sends_row = _converters(_SEND_COLUMNS, self.dialect)
        returned = [*RESPONSES.c, Column("inserted", Boolean())]
        self.upsert_row = _converters(returned, self.dialect)
        self._inserts: dict[tuple[str, tuple[str, ...]], _Compiled] = {}
        self._lookups: dict[tuple[str, int], _Compiled] = {}

    def insert(self, table: str, keys: tuple[str, ...]) -> _Compiled:
        found = self._inserts.get((table, keys))
        if found is None:
            target = WRITEBACKS if table == "writebacks" else EVENTS
            found = self._inserts[(table, keys)] = _Compiled(target.insert(), self.dialect,
                                                             keys)
            # a column left out takes its Python-side default, as SQLAlchemy would give it
            found.defaults({c.name: c.default.arg for c in target.c  # type: ignore[attr-defined]
                            if c.default is not None and c.default.is_scalar})
        return found

    def lookup(self, kind: str, count: int) -> _Compiled:
        """`kind` ("sends", "before", "hooks") for `count` ids: p0, p1, ..."""
        found = self._lookups.get((kind, count))
        if found is None:
            ids: list[Any] = [bindparam(f"p{n}") for n in range(count)]
            stmt = batch_lookup(kind, ids, self.postgresql)
            found = self._lookups[(kind, count)] = _Compiled(stmt, self.dialect)
        return found


_BUILT: dict[str, _Statements] = {}


class DriverBatch:
    """answer_batch's statements for one batch, on `conn`'s driver cursor."""

    def __init__(self, conn: Connection) -> None:
        built = _BUILT.get(conn.dialect.name)
        if built is None:
            built = _BUILT[conn.dialect.name] = _Statements(conn)
        self._s = built
        self._conn = conn
        driver = conn.connection.driver_connection
        assert driver is not None
        self._cursor = driver.cursor()

    def _lookup(self, kind: str, ids: Sequence[int]) -> list[Any]:
        stmt = self._s.lookup(kind, len(ids))
        self._cursor.execute(stmt.sql, stmt.bind({f"p{n}": i for n, i in enumerate(ids)}))
        return list(self._cursor.fetchall())

    def sends(self, ids: Sequence[int]) -> dict[int, Any]:
        rows = [_row(self._s.sends_row, raw) for raw in self._lookup("sends", ids)]
        return {row["id"]: row for row in rows}

    def before(self, ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        return {send_id: (score, category)
                for send_id, score, category in self._lookup("before", ids)}

    def upsert(self, rows: list[Row]) -> list[Any]:
        self._wrote("responses")
        stmt, cursor = self._s.upsert, self._cursor
        found: list[Any] = []
        if self._s.postgresql:  # one pipeline, a result per row
            cursor.executemany(stmt.sql, [stmt.bind(r) for r in rows], returning=True)
            while True:
                found.extend(cursor.fetchall())
                if not cursor.nextset():
                    break
        else:  # sqlite3's executemany returns no rows
            for row in rows:
                cursor.execute(stmt.sql, stmt.bind(row))
                found.extend(cursor.fetchall())
        return [_row(self._s.upsert_row, raw) for raw in found]

    def insert(self, table: str, rows: list[Row]) -> None:
        self._wrote(table)
        stmt = self._s.insert(table, tuple(rows[0]))
        self._cursor.executemany(stmt.sql, [stmt.bind(r) for r in rows])

    def follow_ups(self, rows: list[Row]) -> None:
        self._wrote("follow_ups")
        stmt = self._s.follow_up
        self._cursor.executemany(stmt.sql, [stmt.bind(r) for r in rows])

    def unsent_hooks(self, ids: Sequence[int]) -> set[int]:
        return {send_id for (send_id,) in self._lookup("hooks", ids)}

    def update_hooks(self, rows: list[Row]) -> None:
        self._wrote("writebacks")
        stmt = self._s.hook_update
        self._cursor.executemany(stmt.sql, [stmt.bind(r) for r in rows])

    def _wrote(self, table: str) -> None:
        mark_written(self._conn, table)
