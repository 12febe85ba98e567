"""Unauthenticated /_sandbox/ endpoints: let the demo and a human drive the fake portal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._seed import REGIONS, STORES
from .errors import ApiError
from .routing import Context, Request, Response
from .values import parse_ms


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be a string.")
    return value


def create_ticket(ctx: Context, req: Request) -> Response:
    """Body {subject, email, firstname, lastname?, language?, pipeline?, region?, store?}:
    ticket + its contact (region: a new contact's, store: the ticket's; option values)."""
    body = req.body
    if not isinstance(body, dict) or not _text(body, "subject"):
        raise ApiError(400, "Body needs at least a 'subject'.")
    state = ctx.state
    email = _text(body, "email")
    pipeline = _text(body, "pipeline", "0") or "0"
    region, store = _text(body, "region"), _text(body, "store")
    for name, value, options in (("region", region, REGIONS), ("store", store, STORES)):
        if value is not None and value not in options:
            raise ApiError(400, f"Unknown {name} '{value}'.")
    with state.lock:
        if pipeline not in {p["id"] for p in state.pipelines}:
            raise ApiError(400, f"Unknown pipeline '{pipeline}'.")
        contact_id = state.contact_by_email(email) if email else None
        if contact_id is None:
            contact_id = state.create_contact(
                email, _text(body, "firstname", "") or "", _text(body, "lastname", "") or "",
                _text(body, "language", "en"), region=region)
        ticket_id = state.create_ticket(str(body["subject"]), contact_id, pipeline, store=store)
        return Response(201, {**state.ticket(ticket_id), "contactId": contact_id})


def close_ticket(ctx: Context, req: Request) -> Response:
    """Move the ticket to its pipeline's closed stage; body {"closedAt": iso|ms} optional."""
    tid = req.params["id"]
    at = None
    if isinstance(req.body, dict) and req.body.get("closedAt") is not None:
        ms = parse_ms(str(req.body["closedAt"]))
        if ms is None:
            raise ApiError(400, "closedAt must be ISO 8601 or epoch milliseconds.")
        at = datetime.fromtimestamp(ms / 1000, UTC)
    try:
        return Response(200, ctx.state.close_ticket(tid, at))
    except KeyError:
        raise ApiError(404, f"No ticket {tid}.") from None


def reopen_ticket(ctx: Context, req: Request) -> Response:
    """Move a ticket back to an open stage (closed_date cleared), as a customer reply does."""
    try:
        return Response(200, ctx.state.reopen_ticket(req.params["id"]))
    except KeyError:
        raise ApiError(404, f"No ticket {req.params['id']}.") from None


def delete_ticket(ctx: Context, req: Request) -> Response:
    try:
        ctx.state.delete_ticket(req.params["id"])
    except KeyError:
        raise ApiError(404, f"No ticket {req.params['id']}.") from None
    return Response(204, None)


def ticket_notes(ctx: Context, req: Request) -> Response:
    return Response(200, {"results": ctx.state.notes(ticket_id=req.params["id"])})


def create_list(ctx: Context, req: Request) -> Response:
    """Body {name, contactIds?: [...]}: a manual contact list; answers {"listId"}."""
    body = req.body
    if not isinstance(body, dict) or not _text(body, "name"):
        raise ApiError(400, "Body needs a 'name'.")
    ids = body.get("contactIds", [])
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise ApiError(400, "'contactIds' must be a list of contact ids.")
    try:
        list_id = ctx.state.create_list(str(body["name"]), [str(i) for i in ids])
    except KeyError as exc:
        raise ApiError(400, f"Cannot add to the list: {exc.args[0]}.") from None
    return Response(201, {"listId": list_id})


def get_ticket(ctx: Context, req: Request) -> Response:
    try:
        return Response(200, ctx.state.ticket(req.params["id"]))
    except KeyError:
        raise ApiError(404, f"No ticket {req.params['id']}.") from None


def get_contact(ctx: Context, req: Request) -> Response:
    try:
        return Response(200, ctx.state.contact(req.params["id"]))
    except KeyError:
        raise ApiError(404, f"No contact {req.params['id']}.") from None
