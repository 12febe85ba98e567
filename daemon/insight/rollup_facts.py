"""What one survey counts for in the report rollups (`fact_of`), and the scheduled
refresh's read of its margins (`window_facts`).

The margins (OVERLAP, SENT_OVERLAP) are re-read behind the cursors for writes that commit
late with an earlier time. Each counted fact keeps the survey's columns it was computed from,
as one text (report_facts.seen): the read returns only the margins' surveys whose columns
differ from those (the same columns make the same fact: the fingerprint fixes the zone and
the segment names), so a run at steady state reads the few surveys that changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, String, bindparam, or_, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS
from closedloop.daemon.insight.segments import ANSWER_SEGMENT_KEYS, SEGMENT_KEYS
from closedloop.daemon.insight.stats import category_rank
from closedloop.daemon.store.records import from_db
from closedloop.daemon.store.reports import FACT_COLUMNS, FACTS, Fact, stored_fact

SENT = ("sent", "outcome_unknown")
OVERLAP = timedelta(minutes=5)
SENT_OVERLAP = timedelta(hours=1)  # outcome_unknown can be settled a lease after sent_at
# A survey's own columns of its fact (then its segments': `dim_columns`)
COLUMNS = (SENDS.c.id, SENDS.c.program, SENDS.c.survey_type, SENDS.c.status, SENDS.c.sent_at,
           RESPONSES.c.answered_at, RESPONSES.c.score, RESPONSES.c.category)


def dim_columns(counted: Sequence[str]) -> list[Any]:
    """The columns of the counted segments' values, then sends.segments (custom ones)."""
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


@dataclass
class Window:
    """The surveys of the cursors' margins not counted as they are now: their facts now,
    as counted (report_facts), and the columns each new fact is computed from (`seen`)."""
    new: dict[int, Fact | None] = field(default_factory=dict)
    old: dict[int, Fact] = field(default_factory=dict)
    seen: dict[int, str] = field(default_factory=dict)


def window_facts(conn: Connection, counted: tuple[str, ...], custom: Sequence[str], zone: str,
                 state: dict[str, str]) -> Window:
    """The surveys changed within the cursors' margins (cursors in `state`), in one read
    (surveys only: nothing else has a fact); `counted` the segment names, `custom` those
    of them read from sends.segments. A survey whose columns are those its counted fact
    was computed from (report_facts.seen) is left out by the database: it would move
    nothing."""
    query, width = _window_select(counted)
    days = local_days(zone)
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
    own = [*COLUMNS, *dim_columns(counted)]
    seen = _seen_of(own)
    return (select(*own, *FACT_COLUMNS, seen)
            .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)
                         .outerjoin(FACTS, FACTS.c.send_id == SENDS.c.id))
            .where(SENDS.c.kind == "survey", SENDS.c.id.in_(_CHANGED),
                   or_(FACTS.c.seen.is_(None), FACTS.c.seen != seen))), len(own)


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


