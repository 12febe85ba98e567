"""Segment names as SQL: the expression holding a segment's value, and scope/filter clauses.

A segment is a built-in column of the send (or of the answer, for attribution at rating
time) or a custom value captured in `sends.segments`. A missing value reads as "" ("not
set"), so grouping and filtering never meet NULL. Scopes and filters become WHERE clauses
here, so a viewer's restriction is applied by the database, never after the fact.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import ColumnElement, FromClause, Table, and_, func, literal, select, true

from closedloop.daemon.insight.segments import ANSWER_SEGMENT_KEYS, SEGMENT_KEYS, builtin_names
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store.tables import Base
from closedloop.integration.errors import ClosedLoopError

SENDS: Table = Base.metadata.tables["sends"]
RESPONSES: Table = Base.metadata.tables["responses"]
SCOPES: Table = Base.metadata.tables["report_scopes"]


class ReportError(ClosedLoopError):
    """A report cannot be made as asked (unknown segment or program, since after until...).

    `usage` is True for a mistake in the request itself (the CLI exits 2), False when the
    request is fine but there is nothing to show (exit 1).
    """

    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage


def segment_names(settings: ReportingSettings) -> tuple[str, ...]:
    """Every segment a report may group or filter by: built-ins, then the custom ones."""
    return (*builtin_names(), *settings.segments)


def check_segment(name: str, settings: ReportingSettings, what: str = "segment") -> None:
    if name not in segment_names(settings):
        raise ReportError(f"unknown {what} {name!r}; expected one of: "
                          f"{', '.join(segment_names(settings))}")


def canonical(name: str) -> str:
    """The one name a segment is stored under (brand is pipeline, group is team...)."""
    if name in SEGMENT_KEYS:
        column = SEGMENT_KEYS[name]
        return next(n for n, c in SEGMENT_KEYS.items() if c == column)
    if name in ANSWER_SEGMENT_KEYS:
        column = ANSWER_SEGMENT_KEYS[name]
        return next(n for n, c in ANSWER_SEGMENT_KEYS.items() if c == column)
    return name


def value_of(name: str, settings: ReportingSettings) -> ColumnElement[str]:
    """The SQL expression of a segment's value over sends (joined to responses), "" if unset."""
    check_segment(name, settings)
    raw: ColumnElement[str]
    if name in SEGMENT_KEYS:
        raw = SENDS.c[SEGMENT_KEYS[name]]
    elif name in ANSWER_SEGMENT_KEYS:
        raw = RESPONSES.c[ANSWER_SEGMENT_KEYS[name]]
    else:
        raw = SENDS.c.segments[name].as_string()
    return func.coalesce(raw, literal(""))


def restriction(settings: ReportingSettings, *rules: Mapping[str, frozenset[str]],
                indexed: Collection[str] = ()) -> ColumnElement[bool]:
    """AND of every rule's keys; within a key, any of its values. An empty value set
    allows nothing (a scope that names a segment but no value must not mean "all").
    A segment in `indexed` (a current scope level) is looked up in report_scopes, which
    lists only the surveys reports count (sent or answered)."""
    clauses: list[ColumnElement[bool]] = []
    for rule in rules:
        for name, values in rule.items():
            check_segment(name, settings, "scope or filter segment")
            if canonical(name) in indexed:
                clauses.append(SENDS.c.id.in_(
                    select(SCOPES.c.send_id).where(SCOPES.c.segment == canonical(name),
                                                   SCOPES.c.value.in_(sorted(values)))))
            else:
                clauses.append(value_of(name, settings).in_(sorted(values)))
    return and_(true(), *clauses)


def restricted_sends(settings: ReportingSettings, *rules: Mapping[str, frozenset[str]],
                     indexed: Collection[str] = ()) -> tuple[FromClause, ColumnElement[bool]]:
    """sends joined to report_scopes once per indexed rule (so the database starts from
    the viewer's few surveys), and the WHERE clause of the other rules."""
    source: FromClause = SENDS
    others: list[dict[str, frozenset[str]]] = []
    clauses: list[ColumnElement[bool]] = []
    for rule in rules:
        rest = {}
        for name, values in rule.items():
            check_segment(name, settings, "scope or filter segment")
            if canonical(name) in indexed:
                alias = SCOPES.alias()
                source = source.join(alias, and_(alias.c.send_id == SENDS.c.id,
                                                 alias.c.segment == canonical(name),
                                                 alias.c.value.in_(sorted(values))))
            else:
                rest[name] = values
        others.append(rest)
    clauses.append(restriction(settings, *others))
    return source, and_(*clauses)


def program_clause(programs: Sequence[str]) -> ColumnElement[bool]:
    return SENDS.c.program.in_(list(programs)) if programs else true()
