"""Search (offset paging, 1,000-result cap) and search export (cursor paging).

The query language is the subset NPS member selections and ticket look-ups use:
`type:user|ticket|organization`, `keyword:value` (one keyword repeated = OR, different
keywords = AND), `-keyword:value` (NOT), `>`, `<`, `>=`, `<=` on dates and ticket status,
"quoted phrases" and free words (AND, matched against names, e-mails and subjects). An
unknown keyword is a 400 naming it, so an adapter never believes a filter applied that
the sandbox ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from .errors import invalid_value, search_limit
from .paging import cursor_page, link
from .records import STATUSES, Org, Ticket, User
from .routing import Context, Request, Response

RESULT_CAP: Final = 1000
_TOKEN: Final = re.compile(r'(-?)(?:([a-z_]+)(:|>=|<=|>|<))?("[^"]*"|\S+)')
Record = User | Ticket | Org
Test = Callable[[Record], bool]


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_value(f"Cannot read the date {text!r} (use YYYY-MM-DD or ISO 8601)") \
            from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _compare(op: str, left: Any, right: Any) -> bool:
    return bool({":": left == right, ">": left > right, "<": left < right,
                 ">=": left >= right, "<=": left <= right}[op])


def _words(record: Record) -> str:
    if isinstance(record, User):
        return f"{record.name} {record.email or ''}".lower()
    if isinstance(record, Ticket):
        return f"{record.subject} {record.description}".lower()
    return record.name.lower()


_ID_KEYS: Final = {
    "organization_id": "organization_id", "organization": "organization_id",
    "group_id": "group_id", "group": "group_id", "requester_id": "requester_id",
    "requester": "requester_id", "brand_id": "brand_id", "brand": "brand_id",
    "assignee_id": "assignee_id", "assignee": "assignee_id"}
_KEYWORDS: Final = {
    "user": {"tags", "tag", "created", "updated", "role", "email", "name", "organization_id",
             "organization"},
    "ticket": {"tags", "tag", "created", "updated", "status", "subject", "organization_id",
               "organization", "group_id", "group", "requester_id", "requester", "brand_id",
               "brand", "assignee_id", "assignee"},
    "organization": {"tags", "tag", "created", "updated", "name"},
}


def _time_test(key: str, op: str, value: str) -> Test:
    when = _parse_time(value)
    if op == ":":
        return lambda r: bool(getattr(r, key).date() == when.date())
    return lambda r: _compare(op, getattr(r, key), when)


def _status_test(op: str, value: str) -> Test:
    if value.lower() not in STATUSES:
        raise invalid_value(f"Unknown ticket status {value!r}")
    rank = STATUSES.index(value.lower())
    return lambda r: (isinstance(r, Ticket) and r.status in STATUSES
                      and _compare(op, STATUSES.index(r.status), rank))


def _keyword_test(kind: str, key: str, op: str, value: str) -> Test:
    """The predicate of one `key<op>value` term for records of `kind`."""
    if key not in _KEYWORDS[kind]:
        raise invalid_value(f"The sandbox cannot search {kind}s by {key!r}")
    lowered = value.lower()
    if key in ("created", "updated"):
        return _time_test(key, op, value)
    if key == "status":
        return _status_test(op, value)
    if key in _ID_KEYS:
        attr = _ID_KEYS[key]
        return lambda r: str(getattr(r, attr)) == value
    tests: dict[str, Test] = {
        "tags": lambda r: lowered in r.tags, "tag": lambda r: lowered in r.tags,
        "email": lambda r: isinstance(r, User) and (r.email or "").lower() == lowered,
    }
    return tests.get(key, lambda r: lowered in str(getattr(r, key)).lower())


def _word_test(word: str) -> Test:
    return lambda r: word in _words(r)


def _negated(test: Test) -> Test:
    return lambda r: not test(r)


def _any_of(tests: list[Test]) -> Test:
    return lambda r: any(t(r) for t in tests)


def parse(query: str, kind: str | None) -> tuple[str, list[Test]]:
    """(record type, predicates that must all hold) of a search query."""
    tokens = [(neg, key, op, raw.strip('"')) for neg, key, op, raw in _TOKEN.findall(query)]
    kind = kind or next((value for _, key, _, value in tokens if key == "type"), None)
    if kind not in _KEYWORDS:
        raise invalid_value("The sandbox needs type:user, type:ticket or type:organization "
                            "in the query")
    groups: dict[str, list[Test]] = {}
    tests: list[Test] = []
    for neg, key, op, value in tokens:
        if key == "type":
            continue
        test = _keyword_test(kind, key, op, value) if key else _word_test(value.lower())
        if neg:
            tests.append(_negated(test))
        elif key:
            groups.setdefault(key, []).append(test)
        else:
            tests.append(test)
    tests += [_any_of(group) for group in groups.values()]
    return kind, tests


def _pool(ctx: Context, kind: str) -> list[Record]:
    state = ctx.state
    if kind == "user":
        return list(state.users.values())
    if kind == "ticket":
        return [t for t in state.tickets.values() if t.status != "deleted"]
    return list(state.organizations.values())


def _records(ctx: Context, req: Request, kind: str | None) -> tuple[str, list[Record]]:
    """The query's record type and its matches, in the requested order (id by default)."""
    query = req.arg("query")
    if query is None or not query.strip():
        raise invalid_value("query is required")
    kind, tests = parse(query, kind)
    with ctx.state.lock:
        found = [r for r in _pool(ctx, kind) if all(t(r) for t in tests)]
    order = req.arg("sort_by") or "id"
    attr = {"created_at": "created", "updated_at": "updated"}.get(order, "id")
    found.sort(key=lambda r: (getattr(r, attr), r.id), reverse=req.arg("sort_order") == "desc")
    return kind, found


def _results(ctx: Context, kind: str, records: list[Record]) -> list[dict[str, Any]]:
    """Search results: each object's JSON plus its `result_type`."""
    state = ctx.state
    with state.lock:
        keys = state.field_keys()
        return [{**(r.to_json(state.base_url, keys) if isinstance(r, User)
                    else r.to_json(state.base_url)), "result_type": kind} for r in records]


def search(ctx: Context, req: Request) -> Response:
    """GET search.json: 100 per page at most; past 1,000 results a 422 like Zendesk's."""
    kind, records = _records(ctx, req, req.arg("filter[type]"))
    per_page = req.int_arg("per_page", 100, 1, 100)
    page = req.int_arg("page", 1, 1, 1_000_000)
    if page * per_page > RESULT_CAP:
        raise search_limit()
    start = (page - 1) * per_page
    more = start + per_page < len(records)
    return Response(200, {
        "results": _results(ctx, kind, records[start:start + per_page]), "facets": None,
        "next_page": link(req, {"page": page + 1, "per_page": per_page}) if more else None,
        "previous_page": link(req, {"page": page - 1, "per_page": per_page})
        if page > 1 else None,
        "count": len(records),
    })


def export(ctx: Context, req: Request) -> Response:
    """GET search/export.json: filter[type] required; cursor paging, no result cap."""
    kind = req.arg("filter[type]")
    if kind is None:
        raise invalid_value("filter[type] is required")
    kind, records = _records(ctx, req, kind)
    by_id = {r.id: r for r in records}
    body = cursor_page(req, [{"id": i} for i in sorted(by_id)], "results", max_size=1000)
    body["results"] = _results(ctx, kind, [by_id[i["id"]] for i in body["results"]])
    body["facets"] = None
    return Response(200, body)
