"""Keep `response_themes` current: each response's comment themes, assigned once, redone on change.

`refresh_themes` reads responses changed since its cursor (responses.updated_at, then id),
a batch at a time, assigns their themes and replaces their rows, and moves the cursor in the
same transaction: a kill at any instant redoes at most one batch. A re-score or an edited
comment bumps updated_at, so the response is assigned again; `closedloop forget` deletes a
response and its theme rows go with it (ON DELETE CASCADE). Rows changed in the last
CURSOR_LAG are left for the next run: a transaction stamped earlier may still be committing
behind them. When the dictionary changes (another `[themes]` config), its fingerprint no
longer matches the cursor's and every response is assigned again.

Given the reporting settings, it also moves the theme rollups (rollups.py) by what it
assigned, in the same transaction; a run without them marks the rollups stale (rebuilt by
the next run with them).

Replicas may run it together (the daemon's job also holds a job lock): inserts ignore a row
that is already there, so two refreshes of one batch agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, bindparam, delete, or_, select

from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import rollups
from closedloop.daemon.insight.themes.matcher import ThemeMatcher
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db, to_db
from closedloop.daemon.store.sends import chunks, insert_for
from closedloop.daemon.store.tables import Base

RESPONSES: Table = Base.metadata.tables["responses"]
SENDS: Table = Base.metadata.tables["sends"]
CURSORS: Table = Base.metadata.tables["cursors"]
RESPONSE_THEMES: Table = Base.metadata.tables["response_themes"]
CURSOR = ("insight", "themes")
CURSOR_LAG = timedelta(seconds=5)
BATCH = 2000


@dataclass(frozen=True)
class _Cursor:
    at: datetime | None
    id: int
    dictionary: str


@dataclass
class RefreshResult:
    responses: int = 0  # responses assigned in this run
    themed: int = 0  # of which with at least one theme
    restarted: bool = False  # the dictionary changed: every response is assigned again


def refresh_themes(store: Store, matcher: ThemeMatcher, now: datetime, *,
                   batch: int = BATCH, lag: timedelta = CURSOR_LAG,
                   max_batches: int | None = None,
                   reporting: ReportingSettings | None = None) -> RefreshResult:
    """Assign the themes of every response changed since the last run (see module doc).

    With `reporting`, the theme rollups (rollups.py) move with what is assigned, in the
    same transaction; they are rebuilt first if zone, scope levels or dictionary changed."""
    result = RefreshResult()
    if reporting is not None:
        rollups.ensure(store, reporting, matcher.fingerprint, now)
    horizon = to_db(now - lag)
    cursor = _read_cursor(store)
    if cursor is None or cursor.dictionary != matcher.fingerprint:
        result.restarted = cursor is not None
        cursor = _Cursor(None, 0, matcher.fingerprint)
    done = 0
    while max_batches is None or done < max_batches:
        with reading(store.engine) as conn:
            rows = conn.execute(*_changed_since(cursor, horizon, batch)).all()
        if not rows:
            break
        assigned = [(r.id, matcher.assign(r.comment, r.language)) for r in rows]
        last = rows[-1]
        cursor = _Cursor(from_db(last.updated_at), last.id, matcher.fingerprint)
        with store.engine.begin() as conn:
            _replace(conn, assigned)
            if reporting is not None:
                rollups.update(conn, reporting, assigned)
            else:  # counted nowhere: the next refresh with `reporting` rebuilds them
                rollups.invalidate(conn)
            _write_cursor(conn, cursor, now)
        result.responses += len(rows)
        result.themed += sum(1 for _, themes in assigned if themes)
        done += 1
        if len(rows) < batch:
            break
    if result.responses:
        get_logger(job="themes").info("themes.refreshed", responses=result.responses,
                                      themed=result.themed, restarted=result.restarted)
    return result


# The idle check's one read of its two state rows (the cursor, the rollups' fingerprint),
# built once: it runs whenever an answer lands.
_STATE_ROWS = select(CURSORS.c.source, CURSORS.c.name, CURSORS.c.value).where(or_(
    and_(CURSORS.c.source == CURSOR[0], CURSORS.c.name == CURSOR[1]),
    and_(CURSORS.c.source == rollups.STATE[0], CURSORS.c.name == rollups.STATE[1])))


def idle(store: Store, matcher: ThemeMatcher, now: datetime, *, lag: timedelta = CURSOR_LAG,
         reporting: ReportingSettings | None = None) -> bool:
    """True when `refresh_themes` now would assign nothing and rebuild nothing: same
    dictionary, theme rollups current (given `reporting`), no response changed past the
    cursor up to the horizon. Read only, so a quiet minute takes no lock and writes nothing."""
    with reading(store.engine) as conn:
        rows = {(source, name): value for source, name, value in conn.execute(_STATE_ROWS)}
        if (reporting is not None and rows.get(rollups.STATE)
                != rollups.fingerprint(reporting, matcher.fingerprint)):
            return False
        cursor = _parse_cursor(rows.get(CURSOR))
        if cursor is None or cursor.dictionary != matcher.fingerprint:  # as refresh_themes
            cursor = _Cursor(None, 0, matcher.fingerprint)
        return conn.execute(*_changed_since(cursor, to_db(now - lag), 1)).first() is None


def _changed_since(cursor: _Cursor, horizon: datetime, batch: int
                   ) -> tuple[Select[Any], dict[str, Any]]:
    """The next `batch` responses changed after `cursor`, up to `horizon`: a statement
    built once per shape, and its parameters (the times and the id)."""
    values: dict[str, Any] = {"b_horizon": horizon}
    if cursor.at is not None:
        values.update(b_at=to_db(cursor.at), b_id=cursor.id)
    return _changed_query(cursor.at is not None, batch), values


@lru_cache(maxsize=8)
def _changed_query(after: bool, batch: int) -> Select[Any]:
    query = (select(RESPONSES.c.id, RESPONSES.c.comment, RESPONSES.c.updated_at,
                    SENDS.c.language)
             .join(SENDS, SENDS.c.id == RESPONSES.c.send_id)
             .where(RESPONSES.c.updated_at <= bindparam("b_horizon"))
             .order_by(RESPONSES.c.updated_at, RESPONSES.c.id)
             .limit(batch))
    if after:
        at: Any = bindparam("b_at")
        query = query.where(or_(RESPONSES.c.updated_at > at,
                                and_(RESPONSES.c.updated_at == at,
                                     RESPONSES.c.id > bindparam("b_id"))))
    return query


# Built once (every answer runs them; building a statement and its cache key cost more CPU
# than the database running it): a batch's theme rows out, its new rows in (per dialect),
# the cursor's row read and written (per dialect).
_DELETE_THEMES = delete(RESPONSE_THEMES).where(
    RESPONSE_THEMES.c.response_id.in_(bindparam("b_ids", expanding=True)))
_CURSOR_ROW = select(CURSORS.c.value).where(CURSORS.c.source == CURSOR[0],
                                            CURSORS.c.name == CURSOR[1])
_PER_DIALECT: dict[tuple[str, str], Any] = {}


def _built(conn: Connection, name: str) -> Any:
    """The insert of theme rows (duplicates ignored) or the cursor's upsert, per dialect."""
    stmt = _PER_DIALECT.get((conn.dialect.name, name))
    if stmt is None:
        if name == "themes":
            stmt = insert_for(conn, RESPONSE_THEMES).on_conflict_do_nothing()
        else:
            insert = insert_for(conn, CURSORS)
            stmt = insert.on_conflict_do_update(
                index_elements=["source", "name"],
                set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at})
        _PER_DIALECT[(conn.dialect.name, name)] = stmt
    return stmt


def _replace(conn: Connection, assigned: Sequence[tuple[int, tuple[str, ...]]]) -> None:
    """Each response's rows become exactly its new themes."""
    ids = [response_id for response_id, _ in assigned]
    for part in chunks(ids):
        conn.execute(_DELETE_THEMES, {"b_ids": list(part)})
    rows = [{"response_id": rid, "theme": theme} for rid, themes in assigned for theme in themes]
    for values in chunks(rows):
        conn.execute(_built(conn, "themes"), list(values))


def _read_cursor(store: Store) -> _Cursor | None:
    with reading(store.engine) as conn:
        return _cursor_in(conn)


def _cursor_in(conn: Connection) -> _Cursor | None:
    return _parse_cursor(conn.scalar(_CURSOR_ROW))


def _parse_cursor(value: str | None) -> _Cursor | None:
    if not value:
        return None
    try:
        data = json.loads(value)
        at = datetime.fromisoformat(data["at"]) if data.get("at") else None
        return _Cursor(at, int(data["id"]), str(data["dictionary"]))
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: start again, which is always correct


def _write_cursor(conn: Connection, cursor: _Cursor, now: datetime) -> None:
    value = json.dumps({"at": cursor.at.isoformat() if cursor.at else None, "id": cursor.id,
                        "dictionary": cursor.dictionary})
    conn.execute(_built(conn, "cursor"), {"source": CURSOR[0], "name": CURSOR[1],
                                          "value": value, "updated_at": to_db(now)})


def stored_themes(store: Store, response_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The stored themes of these responses (sorted names; responses without any are left
    out)."""
    out: dict[int, list[str]] = {}
    with reading(store.engine) as conn:
        for part in chunks(list(response_ids)):
            for rid, theme in conn.execute(
                    select(RESPONSE_THEMES.c.response_id, RESPONSE_THEMES.c.theme)
                    .where(RESPONSE_THEMES.c.response_id.in_(part))):
                out.setdefault(rid, []).append(theme)
    return {rid: tuple(sorted(themes)) for rid, themes in out.items()}
