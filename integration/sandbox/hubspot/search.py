"""CRM search on tickets: filterGroups, one sort, properties, offset paging, 10,000 cap.

Matching id lists are cached per (query, state version) so paging through a large result
set costs one scan, not one per page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from . import seed
from .errors import ApiError
from .state import HubSpotState, Props
from .values import parse_ms

MAX_LIMIT: Final = 200
MAX_RESULTS: Final = 10_000
MAX_GROUPS: Final = 5
MAX_FILTERS_PER_GROUP: Final = 6
MAX_FILTERS: Final = 18
OPERATORS: Final = frozenset({
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
    "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"})
_CACHE_SIZE: Final = 32

Predicate = Callable[[Props], bool]
Key = Callable[[str | None], Any]


@lru_cache(maxsize=1 << 20)  # one entry per distinct timestamp: 65,536 thrashed at 100 k tickets
def _ms(value: str) -> int | None:
    return parse_ms(value)


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _converter(kind: str) -> Key:
    """Value -> comparable, per property type (datetimes as epoch ms, numbers as floats)."""
    if kind in {"datetime", "date"}:
        return lambda v: None if v is None or v == "" else _ms(v)
    if kind == "number":
        return lambda v: None if v is None or v == "" else _number(v)
    return lambda v: None if v is None or v == "" else v.casefold()


def _bad(message: str) -> ApiError:
    return ApiError(400, message, "VALIDATION_ERROR")


def _compile_filter(  # noqa: PLR0911 - one return per operator family reads best
        flt: Any, props: dict[str, dict[str, Any]]) -> Predicate:
    if not isinstance(flt, dict):
        raise _bad("Invalid input JSON: each filter must be an object.")
    name, op = flt.get("propertyName"), flt.get("operator", "EQ")
    if name not in props:
        raise _bad(f"There was a problem with the request. Property '{name}' does not exist "
                   "or is not searchable.")
    if op not in OPERATORS:
        raise _bad(f"Invalid operator '{op}'.")
    conv = _converter(props[name]["type"])

    def one(raw: Any) -> Any:
        if raw is None:
            raise _bad(f"Operator {op} on '{name}' requires a value.")
        value = conv(str(raw))
        if value is None:
            raise _bad(f"'{raw}' is not a valid value for '{name}'.")
        return value

    if op == "HAS_PROPERTY":
        return lambda p: p.get(name) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda p: p.get(name) in (None, "")
    if op in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list) or not values:
            raise _bad(f"Operator {op} on '{name}' requires a non-empty 'values' list.")
        wanted = {one(v) for v in values}
        if op == "IN":
            return lambda p: conv(p.get(name)) in wanted
        return lambda p: conv(p.get(name)) not in wanted
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value", "")).casefold().strip("*")

        def has(p: Props) -> bool:
            return token in (p.get(name) or "").casefold()

        return has if op == "CONTAINS_TOKEN" else (lambda p: not has(p))
    value = one(flt.get("value"))
    if op == "BETWEEN":
        high = one(flt.get("highValue"))
        return lambda p: (v := conv(p.get(name))) is not None and value <= v <= high
    if op == "NEQ":
        return lambda p: conv(p.get(name)) != value
    cmp: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: v == value, "LT": lambda v: v < value, "LTE": lambda v: v <= value,
        "GT": lambda v: v > value, "GTE": lambda v: v >= value}
    test = cmp[op]
    return lambda p: (v := conv(p.get(name))) is not None and test(v)


def _compile(body: dict[str, Any], props: dict[str, dict[str, Any]]) -> Predicate:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise _bad("Invalid input JSON: filterGroups must be a list.")
    if len(groups) > MAX_GROUPS:
        raise _bad(f"Too many filter groups: {len(groups)} (maximum {MAX_GROUPS}).")
    compiled: list[list[Predicate]] = []
    total = 0
    for group in groups:
        filters = group.get("filters", []) if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise _bad("Invalid input JSON: each filter group needs a 'filters' list.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise _bad(f"Too many filters in a group: {len(filters)} "
                       f"(maximum {MAX_FILTERS_PER_GROUP}).")
        total += len(filters)
        compiled.append([_compile_filter(f, props) for f in filters])
    if total > MAX_FILTERS:
        raise _bad(f"Too many filters: {total} (maximum {MAX_FILTERS}).")
    query = body.get("query")
    text = query.casefold() if isinstance(query, str) and query else None

    def matches(p: Props) -> bool:
        if text is not None and text not in (p.get("subject") or "").casefold() \
                and text not in (p.get("content") or "").casefold():
            return False
        return not compiled or any(all(f(p) for f in g) for g in compiled)

    return matches


def _sort_rule(body: dict[str, Any], props: dict[str, dict[str, Any]]) -> tuple[str, bool] | None:
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list):
        raise _bad("Invalid input JSON: sorts must be a list.")
    if len(sorts) > 1:
        raise _bad("Only one sort is supported.")
    if not sorts:
        return None
    rule = sorts[0]
    name: Any
    if isinstance(rule, str):
        name, desc = rule.lstrip("-"), rule.startswith("-")
    elif isinstance(rule, dict):
        name, direction = rule.get("propertyName"), rule.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise _bad(f"Invalid sort direction '{direction}'.")
        desc = direction == "DESCENDING"
    else:
        raise _bad("Invalid input JSON: a sort must be an object.")
    if name not in props:
        raise _bad(f"Cannot sort on property '{name}': it does not exist.")
    return str(name), desc


def _matching_ids(state: HubSpotState, body: dict[str, Any]) -> list[str]:
    props = state.properties["tickets"]
    key = json.dumps([body.get("filterGroups"), body.get("sorts"), body.get("query")],
                     sort_keys=True, default=str)
    cached = state.search_cache.get(key)
    if cached is not None and cached[0] == state.version:
        return cached[1]
    matches, rule = _compile(body, props), _sort_rule(body, props)
    recs = [r for r in state.tickets.values() if matches(r.props)]
    recs.sort(key=lambda r: int(r.id))
    if rule is not None:
        name, desc = rule
        conv = _converter(props[name]["type"])
        present = [r for r in recs if conv(r.props.get(name)) is not None]
        missing = [r for r in recs if conv(r.props.get(name)) is None]
        present.sort(key=lambda r: conv(r.props.get(name)), reverse=desc)
        recs = present + missing
    ids = [r.id for r in recs]
    if len(state.search_cache) >= _CACHE_SIZE:
        state.search_cache.clear()
    state.search_cache[key] = (state.version, ids)
    return ids


def _int(value: Any, what: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise _bad(f"Invalid {what}: '{value}'.")


def search_tickets(state: HubSpotState, body: Any, base_url: str) -> dict[str, Any]:
    """The CollectionResponseWithTotalSimplePublicObject for one search request."""
    if not isinstance(body, dict):
        raise _bad("Invalid input JSON: expected an object.")
    limit = _int(body.get("limit"), "limit", 10)
    after = _int(body.get("after"), "after", 0)
    if not 0 < limit <= MAX_LIMIT:
        raise _bad(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    if after + limit > MAX_RESULTS:
        raise _bad(f"Paging past {MAX_RESULTS} results is not supported: after={after}, "
                   f"limit={limit}. Narrow the query instead.")
    requested = body.get("properties")
    with state.lock:
        props = state.properties["tickets"]
        names = seed.returned_properties(props, requested, seed.TICKET_DEFAULT_PROPERTIES,
                                         seed.TICKET_ALWAYS)
        ids = _matching_ids(state, body)
        page = [state.tickets[i].public(names) for i in ids[after:after + limit]]
    out: dict[str, Any] = {"total": len(ids), "results": page}
    if after + limit < len(ids):
        nxt = str(after + limit)
        out["paging"] = {"next": {
            "after": nxt, "link": f"{base_url}/crm/v3/objects/tickets/search?after={nxt}"}}
    return out
