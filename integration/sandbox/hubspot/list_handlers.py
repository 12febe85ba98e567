"""Lists v3: fetch a list by its ILS id and page its memberships (crm-lists-v3)."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from .errors import ApiError
from .lists import ContactList, page_members, record_of
from .routing import Context, Request, Response
from .values import iso_ms

MAX_LIMIT: Final = 250
DEFAULT_LIMIT: Final = 100
CONTACT_OBJECT_TYPE: Final = "0-1"


def _list(ctx: Context, req: Request) -> ContactList:
    found = ctx.state.lists.get(req.params["listId"])
    if found is None:
        raise ApiError(404, f"List with id {req.params['listId']} does not exist.",
                       "OBJECT_NOT_FOUND", context={"listId": [req.params["listId"]]})
    return found


def _param(req: Request, name: str) -> str | None:
    values = req.query.get(name)
    return values[0] if values else None


def list_by_id(ctx: Context, req: Request) -> Response:
    """ListFetchResponse: {"list": PublicObjectList} (filters are never included)."""
    with ctx.state.lock:
        lst = _list(ctx, req)
        body: dict[str, Any] = {"list": {
            "listId": lst.list_id, "listVersion": lst.version, "name": lst.name,
            "objectTypeId": CONTACT_OBJECT_TYPE, "processingStatus": "COMPLETE",
            "processingType": "MANUAL", "size": len(lst.members),
            "createdAt": iso_ms(lst.created_ms), "updatedAt": iso_ms(lst.updated_ms),
            "filtersUpdatedAt": iso_ms(lst.created_ms),
        }}
    return Response(200, body)


def _token(req: Request, name: str) -> int | None:
    raw = _param(req, name)
    if raw is None or raw == "":
        return None
    boundary = record_of(raw)
    if boundary is None:
        raise ApiError(400, f"Invalid '{name}' paging token: {raw}", "VALIDATION_ERROR")
    return boundary


def memberships(ctx: Context, req: Request) -> Response:
    """ApiCollectionResponseJoinTimeAndRecordId, ascending by record id (see lists.py)."""
    raw_limit = _param(req, "limit")
    if raw_limit is None or raw_limit == "":
        limit = DEFAULT_LIMIT
    elif raw_limit.isdigit() and 0 < int(raw_limit) <= MAX_LIMIT:
        limit = int(raw_limit)
    else:
        raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}, got {raw_limit}.",
                       "VALIDATION_ERROR")
    after, before = _token(req, "after"), _token(req, "before")
    with ctx.state.lock:
        lst = _list(ctx, req)
        page = page_members(lst, after=after, before=before, limit=limit)
    base = f"{req.base_url}{req.path}"
    body: dict[str, Any] = {
        "total": page.total,
        "results": [{"recordId": rid, "membershipTimestamp": iso_ms(ms)}
                    for rid, ms in page.rows],
    }
    paging: dict[str, Any] = {}
    if page.after:
        paging["next"] = {"after": page.after,
                          "link": f"{base}?{urlencode({'after': page.after, 'limit': limit})}"}
    if page.before:
        paging["prev"] = {"before": page.before,
                          "link": f"{base}?{urlencode({'before': page.before, 'limit': limit})}"}
    if paging:
        body["paging"] = paging
    return Response(200, body)
