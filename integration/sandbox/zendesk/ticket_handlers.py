"""Ticket endpoints: the incremental cursor export, reads, updates, tags, update_many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .bodies import enveloped, update_many_job
from .errors import ApiError, closed_ticket, invalid_value, not_found, too_many_values
from .paging import MAX_IDS, ids_param, list_page
from .records import Ticket
from .routing import Context, Request, Response
from .state import ClosedTicketError, InvalidChange
from .values import decode_cursor, encode_cursor, now, parse_id

MAX_EXPORT_PAGE: Final = 1000
SIDELOADS: Final = frozenset({"metric_sets", "users", "groups", "organizations"})


def _ticket_id(req: Request) -> int:
    tid = parse_id(req.params["id"])
    if tid is None:
        raise not_found()
    return tid


# ------------------------------------------------------------------ export
def incremental(ctx: Context, req: Request) -> Response:
    """GET incremental/tickets/cursor.json: every ticket changed since start_time or after
    the cursor, deleted ones included, in change order; opaque cursors."""
    start, cursor = req.arg("start_time"), req.arg("cursor")
    if (start is None) == (cursor is None):
        raise invalid_value("Exactly one of start_time and cursor is required")
    if cursor is not None:
        payload = decode_cursor(cursor)
        if payload is None or not isinstance(payload.get("s"), int):
            raise ApiError(400, "InvalidPaginationParameter", "cursor is invalid")
        seq, since_ts = payload["s"], payload.get("t")
    else:
        if start is None or not start.isdigit():
            raise invalid_value("start_time must be a Unix timestamp in seconds")
        seq, since_ts = 0, int(start)
    since = datetime.fromtimestamp(since_ts, UTC) if isinstance(since_ts, int) else None
    per_page = req.int_arg("per_page", MAX_EXPORT_PAGE, 1, MAX_EXPORT_PAGE)
    fresh = now() - timedelta(seconds=ctx.hide_recent_seconds) \
        if ctx.hide_recent_seconds > 0 else None
    tickets, position, end = ctx.state.changes_after(seq, since, per_page, fresh)
    includes = {i.strip() for i in (req.arg("include") or "").split(",")} & SIDELOADS
    base = req.base_url

    def url(value: str) -> str:
        extra = f"&include={','.join(sorted(includes))}" if includes else ""
        return req.api_url(f"incremental/tickets/cursor.json?per_page={per_page}"
                           f"&cursor={value}{extra}")

    after = encode_cursor({"s": position, "t": since_ts})
    before = encode_cursor({"s": tickets[0].seq - 1, "t": since_ts}) if tickets else None
    with ctx.state.lock:
        body: dict[str, Any] = {
            "tickets": [t.to_json(base) for t in tickets],
            "after_url": url(after), "after_cursor": after,
            "before_url": url(before) if before else None, "before_cursor": before,
            "end_of_stream": end,
        }
        body.update(_sideloads(ctx, tickets, includes))
    return Response(200, body)


def _sideloads(ctx: Context, tickets: list[Ticket], includes: set[str]) -> dict[str, Any]:
    state, base, out = ctx.state, ctx.state.base_url, {}
    if "metric_sets" in includes:
        out["metric_sets"] = [t.metric_set(base) for t in tickets]
    if "users" in includes:
        ids = sorted({i for t in tickets for i in (t.requester_id, t.assignee_id)
                      if i is not None and i in state.users})
        out["users"] = [state.users[i].to_json(base, state.field_keys()) for i in ids]
    if "groups" in includes:
        ids = sorted({t.group_id for t in tickets if t.group_id in state.groups})
        out["groups"] = [state.groups[i].to_json(base) for i in ids if i is not None]
    if "organizations" in includes:
        ids = sorted({t.organization_id for t in tickets if t.organization_id in
                      state.organizations})
        out["organizations"] = [state.organizations[i].to_json(base)
                                for i in ids if i is not None]
    return out


# ------------------------------------------------------------------ reads
def _visible(ctx: Context, tid: int) -> dict[str, Any]:
    with ctx.state.lock:
        ticket = ctx.state.tickets.get(tid)
        if ticket is None or ticket.status == "deleted":
            raise not_found()
        return ticket.to_json(ctx.state.base_url)


def show(ctx: Context, req: Request) -> Response:
    return Response(200, {"ticket": _visible(ctx, _ticket_id(req))})


def show_many(ctx: Context, req: Request) -> Response:
    """Unknown and deleted ids are left out, as Zendesk does; `include` sideloads as the
    export does (metric_sets, users, groups, organizations)."""
    found = []
    for tid in ids_param(req):
        try:
            found.append(_visible(ctx, tid))
        except ApiError:
            continue
    body: dict[str, Any] = {"tickets": found, "next_page": None, "previous_page": None,
                            "count": len(found)}
    includes = {i.strip() for i in (req.arg("include") or "").split(",")} & SIDELOADS
    if includes:
        with ctx.state.lock:
            records = [ctx.state.tickets[int(t["id"])] for t in found]
            body.update(_sideloads(ctx, records, includes))
    return Response(200, body)


# ------------------------------------------------------------------ writes
def _apply(ctx: Context, tid: int, change: Any) -> dict[str, Any]:
    """Update one ticket; ApiError as Zendesk answers a single update."""
    if not isinstance(change, dict):
        raise invalid_value("ticket must be an object")
    try:
        return ctx.state.update_ticket(tid, change, ctx.me_id)
    except KeyError:
        raise not_found() from None
    except ClosedTicketError:
        raise closed_ticket() from None
    except InvalidChange as exc:
        raise ApiError(422, "RecordInvalid", "Record validation errors", exc.details) from None


def update(ctx: Context, req: Request) -> Response:
    """PUT tickets/{id}.json: comment (private notes too), tags, additional_tags, status."""
    tid = _ticket_id(req)
    audit = _apply(ctx, tid, enveloped(req, "ticket"))
    return Response(200, {"ticket": _visible(ctx, tid), "audit": audit})


def tags_show(ctx: Context, req: Request) -> Response:
    return Response(200, {"tags": _visible(ctx, _ticket_id(req))["tags"]})


def _tags_change(req: Request, key: str) -> dict[str, Any]:
    tags = enveloped(req, "tags")
    if not isinstance(tags, list):
        raise invalid_value("tags must be a list")
    return {key: tags}


def tags_add(ctx: Context, req: Request) -> Response:
    """PUT tickets/{id}/tags.json adds; POST replaces; DELETE removes."""
    key = {"PUT": "additional_tags", "POST": "tags", "DELETE": "remove_tags"}[req.method]
    tid = _ticket_id(req)
    _apply(ctx, tid, _tags_change(req, key))
    return Response(200 if req.method != "POST" else 201,
                    {"tags": _visible(ctx, tid)["tags"]})


def update_many(ctx: Context, req: Request) -> Response:
    """PUT tickets/update_many.json with {"tickets": [{"id", ...}]} or ?ids= and one
    {"ticket": {...}}: a job whose results say, per ticket, Updated or why not."""
    return update_many_job(ctx, req, "ticket", _apply)


def comments(ctx: Context, req: Request) -> Response:
    """GET tickets/{id}/comments.json: the ticket's comments, oldest first, paged."""
    tid = _ticket_id(req)
    with ctx.state.lock:
        if tid not in ctx.state.tickets:
            raise not_found()
        found = ctx.state.comments(str(tid))
    return Response(200, list_page(req, found, "comments"))


def create_many(ctx: Context, req: Request) -> Response:
    """POST tickets/create_many.json {"tickets": [...]} (at most 100): a job whose results
    say, per index, Created with the new id or why not."""
    items = enveloped(req, "tickets")
    if not isinstance(items, list) or not items:
        raise invalid_value("tickets must be a non-empty list")
    if len(items) > MAX_IDS:
        raise too_many_values(MAX_IDS, "tickets")
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidChange("ticket", "Ticket: must be an object")
            tid = ctx.state.create_api_ticket(item, ctx.me_id)
        except InvalidChange as exc:
            texts = [e["description"] for errs in exc.details.values() for e in errs]
            results.append({"index": index, "error": "TicketCreateFailed",
                            "details": "; ".join(texts), "success": False})
            continue
        results.append({"index": index, "id": tid, "action": "create", "status": "Created",
                        "success": True})
    return Response(200, {"job_status": ctx.jobs.submit(results, req.base_url)})


def list_tickets(ctx: Context, req: Request) -> Response:
    """GET tickets.json?external_id=X: the (non-deleted) tickets with that external id."""
    external = req.arg("external_id")
    with ctx.state.lock:
        found = [t.to_json(ctx.state.base_url) for t in ctx.state.tickets.values()
                 if t.status != "deleted" and (external is None or t.external_id == external)]
    return Response(200, list_page(req, found, "tickets"))


def ticket_fields(ctx: Context, req: Request) -> Response:
    """GET ticket_fields.json: the system and custom ticket fields."""
    with ctx.state.lock:
        listing = ctx.state.ticket_fields.listing()
    return Response(200, list_page(req, listing, "ticket_fields"))
