"""Zendesk's two paging styles and id lists, written once for every list endpoint.

Offset paging answers `next_page`/`previous_page`/`count`; cursor paging (asked for with
`page[size]`, as zenpy does for most lists) answers `meta.has_more`/`links.next`. Every
link is absolute on the sandbox's own address, since zenpy follows links verbatim.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from .errors import invalid_value, too_many_values
from .routing import Request
from .values import decode_cursor, encode_cursor, parse_id

MAX_IDS: Final = 100
_PAGE_KEYS: Final = frozenset({"page", "per_page", "page[size]", "page[after]",
                               "page[before]"})


def ids_param(req: Request, limit: int = MAX_IDS) -> list[int]:
    """The `ids=1,2,3` list of a show_many call (400 when missing, malformed or too long)."""
    raw = req.arg("ids")
    if not raw:
        raise invalid_value("ids is required")
    parts = [p for p in raw.split(",") if p.strip()]
    if len(parts) > limit:
        raise too_many_values(limit)
    ids = [parse_id(p) for p in parts]
    if any(i is None for i in ids):
        raise invalid_value("ids must be a comma-separated list of ids")
    return list(dict.fromkeys(i for i in ids if i is not None))


def link(req: Request, params: dict[str, Any]) -> str:
    """This request's URL with its paging parameters replaced by `params`."""
    keep = [(k, v) for k, values in req.query.items() if k not in _PAGE_KEYS for v in values]
    keep += [(k, str(v)) for k, v in params.items()]
    return f"{req.base_url}{req.path}?{urlencode(keep)}"


def wants_cursor(req: Request) -> bool:
    return req.arg("page[size]") is not None or req.arg("page[after]") is not None


def offset_page(req: Request, items: list[dict[str, Any]], key: str, *,
                max_per_page: int = 100) -> dict[str, Any]:
    """{key: [...], next_page, previous_page, count} for ?page=&per_page=."""
    per_page = req.int_arg("per_page", 100, 1, max_per_page)
    page = req.int_arg("page", 1, 1, 1_000_000)
    start = (page - 1) * per_page
    more = start + per_page < len(items)
    return {
        key: items[start:start + per_page],
        "next_page": link(req, {"page": page + 1, "per_page": per_page}) if more else None,
        "previous_page": link(req, {"page": page - 1, "per_page": per_page}) if page > 1 else None,
        "count": len(items),
    }


def cursor_page(req: Request, items: list[dict[str, Any]], key: str, *,
                max_size: int = 100) -> dict[str, Any]:
    """{key: [...], meta: {has_more, after_cursor, before_cursor}, links: {next, prev}} for
    ?page[size]=&page[after]= over `items` ordered by id."""
    size = req.int_arg("page[size]", 100, 1, max_size)
    after = req.arg("page[after]")
    if after:
        payload = decode_cursor(after)
        if payload is None or not isinstance(payload.get("id"), int):
            raise invalid_value("page[after] is not a valid cursor")
        items = [i for i in items if i["id"] > payload["id"]]
    chunk = items[:size]
    more = len(items) > size
    after_cursor = encode_cursor({"id": chunk[-1]["id"]}) if chunk else None
    before_cursor = encode_cursor({"id": chunk[0]["id"]}) if chunk else None
    return {
        key: chunk,
        "meta": {"has_more": more, "after_cursor": after_cursor,
                 "before_cursor": before_cursor},
        "links": {"next": link(req, {"page[size]": size, "page[after]": after_cursor})
                  if more else None, "prev": None},
    }


def list_page(req: Request, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Cursor paging when the client asks for it, else offset paging."""
    if wants_cursor(req):
        return cursor_page(req, items, key)
    return offset_page(req, items, key)
