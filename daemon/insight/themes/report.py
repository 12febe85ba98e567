"""Theme report: per theme, how often, how unhappy, trend, and a few quotes, in SQL.

Counts come from `response_themes` (assign.py keeps it current) joined to the responses and
their sends, so a report over a million answers groups stored rows instead of reading every
comment. A period holds the answers first given in [since, until); the previous period is
the same length just before it. The base of every share is the answers *with a comment* in
the period, after the filters. "Low" is the unhappy category of each survey: NPS detractor,
CSAT unsatisfied, CES difficult; `lift` is a theme's low share over the base's low share
(1.2: answers naming the theme are unhappy 20 % more often than commented answers overall).

`scope` maps a sends column (program, source, language, pipeline, team_id, owner_id,
organization_id, ...) to the values allowed; it becomes a WHERE clause of every query, so
a dashboard restricted to one store can never count another's answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Case, ColumnElement, Table, and_, case, func, select

from closedloop.daemon.insight.dimensions import restriction
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.rollups import indexed_levels
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes import fast
from closedloop.daemon.insight.themes.dictionary import Theme, default_themes
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import from_db, to_db
from closedloop.daemon.store.tables import Base

RESPONSES: Table = Base.metadata.tables["responses"]
SENDS: Table = Base.metadata.tables["sends"]
RESPONSE_THEMES: Table = Base.metadata.tables["response_themes"]
LOW_CATEGORIES = ("detractor", "unsatisfied", "difficult")  # surveys.CATEGORIES, unhappy end
# Columns of `sends` a scope may not filter on: personal data, not segments.
_NOT_SEGMENTS = frozenset({"email", "email_norm", "first_name", "subject", "message_id",
                           "last_error", "idem_key"})
QUOTES = 3  # example quotes per theme
QUOTE_POOL = 20  # most recent answers the quotes are chosen from (the shortest)
QUOTE_MAX = 280  # characters of a quote shown


class UnknownSegment(ValueError):
    """A scope or filter names a column the sends do not have."""


@dataclass(frozen=True)
class Quote:
    text: str
    score: int
    category: str
    program: str
    answered_at: datetime


@dataclass(frozen=True)
class ThemeRow:
    """One theme in a period. Shares are 0..1; None when their base is empty."""

    theme: str
    label: str
    count: int  # answers with a comment naming the theme
    share: float | None  # count / answers with a comment (`base`)
    low: int  # of `count`, the unhappy ones
    low_share: float | None  # low / count
    lift: float | None  # low_share / base_low_share
    previous_count: int | None  # the period before (None: not computed, e.g. discovered)
    previous_share: float | None
    base: int  # answers with a comment in the period
    base_low_share: float | None
    quotes: tuple[Quote, ...] = ()
    discovered: bool = False  # a recurring phrase that is not in the dictionary

    @property
    def change(self) -> float | None:
        """Share change against the previous period, in points of 0..1."""
        if self.share is None or self.previous_share is None:
            return None
        return self.share - self.previous_share


@dataclass(frozen=True)
class Totals:
    base: int
    low: int
    previous_base: int

    @property
    def low_share(self) -> float | None:
        return self.low / self.base if self.base else None


def scope_filter(scope: Mapping[str, Sequence[str]] | None,
                 programs: Sequence[str] | None = None) -> list[ColumnElement[bool]]:
    """WHERE conditions on sends for a scope and a program list; unknown columns refused."""
    conditions: list[ColumnElement[bool]] = []
    if programs:
        conditions.append(SENDS.c.program.in_(list(programs)))
    for column, values in (scope or {}).items():
        if column not in SENDS.c or column in _NOT_SEGMENTS:
            known = sorted(c.name for c in SENDS.c if c.name not in _NOT_SEGMENTS)
            raise UnknownSegment(f"unknown segment {column!r}; expected one of: "
                                 f"{', '.join(known)}")
        conditions.append(SENDS.c[column].in_([str(v) for v in values]))
    return conditions


def _low() -> Case[Any]:
    return case((RESPONSES.c.category.in_(LOW_CATEGORIES), 1), else_=0)


def _commented() -> ColumnElement[bool]:
    return and_(RESPONSES.c.comment.is_not(None), RESPONSES.c.comment != "")


def totals(store: Store, since: datetime, until: datetime,
           conditions: Sequence[ColumnElement[bool]]) -> Totals:
    """Answers with a comment in the period and the one before, and the low ones now."""
    previous = since - (until - since)
    current = case((RESPONSES.c.answered_at >= to_db(since), 1), else_=0)
    query = (select(current.label("cur"), func.count(), func.sum(_low()))
             .select_from(RESPONSES.join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
             .where(_commented(), RESPONSES.c.answered_at >= to_db(previous),
                    RESPONSES.c.answered_at < to_db(until), *conditions)
             .group_by(current))
    base = low = previous_base = 0
    with reading(store.engine) as conn:
        for cur, count, lows in conn.execute(query):
            if cur:
                base, low = int(count), int(lows or 0)
            else:
                previous_base = int(count)
    return Totals(base=base, low=low, previous_base=previous_base)


def theme_report(store: Store, *, since: datetime, until: datetime,
                 programs: Sequence[str] | None = None,
                 scope: Mapping[str, Sequence[str]] | None = None, limit: int = 20,
                 themes: Sequence[Theme] = (), sort: str = "count",
                 settings: ReportingSettings | None = None, viewer: Scope | None = None,
                 filters: Mapping[str, frozenset[str]] | None = None) -> list[ThemeRow]:
    """The dictionary themes named in [since, until), most frequent first (`sort="lift"`:
    most linked to low scores first; `"impact"`: most unhappy answers beyond the base rate).

    `themes` gives labels and the order ties break in (the dictionary's; default: the
    built-in one); a theme stored but no longer in it is still reported, under its name.
    With `settings`, `viewer` (the dashboard's Scope, custom segments included) and
    `filters` restrict the answers too; a window of whole weeks or months in the reporting
    zone is then read from the theme rollups (fast.py), any other from the tables.
    Raises UnknownSegment for a scope column the sends do not have.
    """
    conditions = scope_filter(scope, programs)
    walk = list(conditions)
    sieve = None
    if settings is not None:
        allowed = (viewer or Scope.ALL).allowed
        with reading(store.engine) as conn:
            indexed = indexed_levels(conn, settings)
            large = fast.large_scope(conn, allowed, indexed)
        conditions.append(restriction(settings, allowed, filters or {}, indexed=indexed))
        if large is not None:  # a region: the quotes walk the newest answers and sift
            # them a page at a time; a store's few surveys are looked up first
            if filters:
                walk.append(restriction(settings, filters, indexed=indexed))
            sieve = (*large, restriction(settings, allowed, indexed=indexed))
        else:
            walk = list(conditions)
    counted = (fast.counts(store, settings, since, until, programs or (), viewer, filters)
               if settings is not None and not scope else None)
    if counted is not None:
        now, before, (base, low, previous_base) = counted
        total = Totals(base=base, low=low, previous_base=previous_base)
    else:
        now, before, total = _counted(store, since, until, conditions)
    known = themes or default_themes()
    labels = {t.name: t.label for t in known}
    order = {t.name: i for i, t in enumerate(known)}
    rows = [_row(name, labels.get(name, name), count, low, before.get(name, 0), total)
            for name, (count, low) in now.items()]
    rows.sort(key=lambda r: (*_sort_key(r, sort), order.get(r.theme, len(order)), r.theme))
    rows = rows[:max(limit, 0)]
    pools = fast.quotes(store, [r.theme for r in rows], since, until, walk, sieve)
    return [_with_quotes(r, _chosen(pools.get(r.theme, []))) for r in rows]


def _counted(store: Store, since: datetime, until: datetime,
             conditions: Sequence[ColumnElement[bool]]
             ) -> tuple[dict[str, tuple[int, int]], dict[str, int], Totals]:
    """Theme counts now and before, and the totals, from the tables (any window)."""
    total = totals(store, since, until, conditions)
    previous = since - (until - since)
    current = case((RESPONSES.c.answered_at >= to_db(since), 1), else_=0)
    query = (select(RESPONSE_THEMES.c.theme, current.label("cur"), func.count(),
                    func.sum(_low()))
             .select_from(RESPONSE_THEMES
                          .join(RESPONSES, RESPONSES.c.id == RESPONSE_THEMES.c.response_id)
                          .join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
             .where(RESPONSES.c.answered_at >= to_db(previous),
                    RESPONSES.c.answered_at < to_db(until), *conditions)
             .group_by(RESPONSE_THEMES.c.theme, current))
    now: dict[str, tuple[int, int]] = {}
    before: dict[str, int] = {}
    with reading(store.engine) as conn:
        for theme, cur, count, lows in conn.execute(query):
            if cur:
                now[theme] = (int(count), int(lows or 0))
            else:
                before[theme] = int(count)
    return now, before, total


SORTS = ("count", "lift", "impact")


def _sort_key(row: ThemeRow, sort: str) -> tuple[float, ...]:
    """Descending keys; count breaks ties of the others."""
    if sort == "lift":
        return (-(row.lift or 0.0), -row.count)
    if sort == "impact":
        expected = row.count * (row.base_low_share or 0.0)
        return (-(row.low - expected), -row.count)
    if sort != "count":
        raise ValueError(f"unknown sort {sort!r}; expected one of: {', '.join(SORTS)}")
    return (-row.count,)


def _row(name: str, label: str, count: int, low: int, previous: int,
         total: Totals) -> ThemeRow:
    low_share = low / count if count else None
    base_low = total.low_share
    return ThemeRow(
        theme=name, label=label, count=count, low=low,
        share=count / total.base if total.base else None, low_share=low_share,
        lift=(low_share / base_low) if low_share is not None and base_low else None,
        previous_count=previous,
        previous_share=previous / total.previous_base if total.previous_base else None,
        base=total.base, base_low_share=base_low)


def _with_quotes(row: ThemeRow, quotes: tuple[Quote, ...]) -> ThemeRow:
    return ThemeRow(**{**row.__dict__, "quotes": quotes})


def _chosen(pool: Sequence[Any]) -> tuple[Quote, ...]:
    """The QUOTES shortest of a theme's QUOTE_POOL most recent comments (ties: newer),
    newest first."""
    chosen = sorted(pool, key=lambda r: (len(r.comment.strip()), -r.id))[:QUOTES]
    chosen.sort(key=lambda r: (from_db(r.answered_at), r.id), reverse=True)
    return tuple(Quote(text=_clip(r.comment), score=r.score, category=r.category,
                       program=r.program, answered_at=from_db(r.answered_at))
                 for r in chosen)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_MAX else text[:QUOTE_MAX - 1] + "…"
