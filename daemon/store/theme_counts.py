"""Theme rollups' storage: what was counted per answer (theme_facts) and the counts
(theme_rollups), moved by the difference between what was counted and what is now.

The themes refresh (insight/themes/rollups.py) builds facts; `forget` (privacy.py) calls
`forget_themes` before it deletes the answers, so their counts leave with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, bindparam, delete, select

from closedloop.daemon.store.reports import GRAINS, grain_start
from closedloop.daemon.store.sends import chunks, insert_for
from closedloop.daemon.store.tables import Base

FACTS: Table = Base.metadata.tables["theme_facts"]
ROLLUPS: Table = Base.metadata.tables["theme_rollups"]
BASE = ""  # theme of the rows counting every commented answer (shares' base)
Cell = tuple[str, str, date, str, str, str]  # grain, scope, period, type, program, theme


class ThemeFact(NamedTuple):
    send_id: int
    day: date
    program: str
    survey_type: str
    low: bool
    themes: tuple[str, ...]
    scopes: tuple[str, ...]  # "" (everyone) and "level=value" per scope level


def cells(fact: ThemeFact) -> Iterable[Cell]:
    """Every rollup row one commented answer counts in."""
    for grain in GRAINS:
        period = grain_start(fact.day, grain)
        for scope in fact.scopes:
            for theme in (BASE, *fact.themes):
                yield grain, scope, period, fact.survey_type, fact.program, theme


def add(deltas: dict[Cell, list[int]], fact: ThemeFact | None, sign: int) -> None:
    if fact is None:
        return
    for cell in cells(fact):
        counts = deltas.setdefault(cell, [0, 0])
        counts[0] += sign
        counts[1] += sign if fact.low else 0


# Built once (the themes job runs them for every answer; building a statement and its cache
# key cost more CPU than the database running it): the facts of some answers, read and
# deleted, and the rollups' upsert per dialect.
_READ = select(FACTS).where(FACTS.c.response_id.in_(bindparam("b_ids", expanding=True)))
_DELETE = delete(FACTS).where(FACTS.c.response_id.in_(bindparam("b_ids", expanding=True)))
_KEYS = ("grain", "scope", "period", "survey_type", "program", "theme")
_ADD: dict[str, Any] = {}


def read_facts(conn: Connection, response_ids: Sequence[int]) -> dict[int, ThemeFact]:
    out: dict[int, ThemeFact] = {}
    for part in chunks(sorted(response_ids)):
        for row in conn.execute(_READ, {"b_ids": list(part)}):
            out[row.response_id] = ThemeFact(
                row.send_id, row.day, row.program, row.survey_type, bool(row.low),
                tuple(json.loads(row.themes)), tuple(json.loads(row.scopes)))
    return out


def move(conn: Connection, old: Mapping[int, ThemeFact], new: Mapping[int, ThemeFact | None]
         ) -> int:
    """Counts move by new minus old (unchanged answers move nothing); facts become `new`.
    Returns how many rollup rows moved."""
    deltas: dict[Cell, list[int]] = {}
    for response_id, fact in new.items():
        before = old.get(response_id)
        if before == fact:
            continue
        add(deltas, before, -1)
        add(deltas, fact, +1)
    changed = {k: v for k, v in deltas.items() if v != [0, 0]}
    write_deltas(conn, changed)
    changed_ids = [i for i, f in new.items() if old.get(i) != f]
    for part in chunks(changed_ids):
        conn.execute(_DELETE, {"b_ids": list(part)})
    rows = [fact_row(i, f) for i in changed_ids if (f := new[i]) is not None]
    for batch in chunks(rows, 1000):
        conn.execute(FACTS.insert(), list(batch))
    return len(changed)


def fact_row(response_id: int, fact: ThemeFact) -> dict[str, object]:
    return {"response_id": response_id, "send_id": fact.send_id, "day": fact.day,
            "program": fact.program, "survey_type": fact.survey_type, "low": fact.low,
            "themes": json.dumps(list(fact.themes)), "scopes": json.dumps(list(fact.scopes))}


def write_deltas(conn: Connection, deltas: Mapping[Cell, list[int]]) -> None:
    """Add each delta to its row (created at the delta). Rows left at zero stay (a read
    drops themes that sum to nothing): deleting them would scan the table every batch."""
    rows = [{**dict(zip(_KEYS, cell, strict=True)), "answers": a, "low": lo}
            for cell, (a, lo) in sorted(deltas.items())]
    for batch in chunks(rows, 500):
        conn.execute(_add(conn), list(batch))


def _add(conn: Connection) -> Any:
    """INSERT into theme_rollups, adding to a row already there (built once per dialect)."""
    stmt = _ADD.get(conn.dialect.name)
    if stmt is None:
        insert = insert_for(conn, ROLLUPS)
        stmt = _ADD[conn.dialect.name] = insert.on_conflict_do_update(
            index_elements=list(_KEYS),
            set_={"answers": ROLLUPS.c.answers + insert.excluded.answers,
                  "low": ROLLUPS.c.low + insert.excluded.low})
    return stmt


def forget_themes(conn: Connection, send_ids: Sequence[int]) -> int:
    """`forget`: the answers of these surveys leave the theme rollups (call before deleting
    them)."""
    ids: list[int] = []
    for part in chunks(list(send_ids)):
        ids += conn.scalars(select(FACTS.c.response_id).where(FACTS.c.send_id.in_(part))).all()
    if not ids:
        return 0
    return move(conn, read_facts(conn, ids), dict.fromkeys(ids))
