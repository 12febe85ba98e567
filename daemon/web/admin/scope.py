"""A dashboard user's scope as the report contract's `Scope`, and the check that refuses a
URL naming segment values outside it (a scope escape: 403 and a warning in the log).

The queries apply the scope in SQL whatever the URL says (filters are ANDed with it), so a
filter outside the scope could only ever show nothing; refusing it outright makes the attempt
visible. A filter on the user's own level must name allowed values; a filter on another level
of the hierarchy must name values the user can see (e.g. a region manager naming a store of
another region).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from closedloop.daemon.insight.report import Scope
from closedloop.daemon.web.admin.accounts import User


class ScopeEscape(Exception):
    def __init__(self, segment: str, value: str) -> None:
        super().__init__(f"{segment}={value}")
        self.segment = segment
        self.value = value


def user_scope(user: User) -> Scope:
    if not user.scope:
        return Scope()
    return Scope({level: frozenset(values) for level, values in user.scope.items()})


def check_filters(filters: Mapping[str, frozenset[str]], scope: Scope,
                  levels: tuple[str, ...], visible: Callable[[str], list[str]]) -> None:
    """Raise ScopeEscape for the first filter value outside `scope`; `visible(level)` lists
    the values of a hierarchy level the scope allows (read from the store)."""
    if not scope.allowed:
        return
    for segment, values in sorted(filters.items()):
        allowed = scope.allowed.get(segment)
        if allowed is None and segment in levels:
            allowed = frozenset(visible(segment))
        if allowed is None:
            continue
        for value in sorted(values):
            if value not in allowed:
                raise ScopeEscape(segment, value)
