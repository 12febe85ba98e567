"""User, user-field, organisation, group and job-status endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .bodies import enveloped, update_many_job
from .errors import ApiError, invalid_value, not_found
from .fields import FieldValueError
from .paging import ids_param, list_page
from .records import Group, Org
from .routing import Context, Request, Response
from .state import InvalidChange
from .values import parse_id


def _id(req: Request) -> int:
    value = parse_id(req.params["id"])
    if value is None:
        raise not_found()
    return value


def _user(ctx: Context, uid: int) -> dict[str, Any]:
    try:
        return ctx.state.user(str(uid))
    except KeyError:
        raise not_found() from None


# ------------------------------------------------------------------ users
def me(ctx: Context, req: Request) -> Response:
    return Response(200, {"user": _user(ctx, ctx.me_id)})


def show(ctx: Context, req: Request) -> Response:
    return Response(200, {"user": _user(ctx, _id(req))})


def show_many(ctx: Context, req: Request) -> Response:
    """Unknown ids are left out, as Zendesk does."""
    with ctx.state.lock:
        keys = ctx.state.field_keys()
        users = [ctx.state.users[i].to_json(ctx.state.base_url, keys)
                 for i in ids_param(req) if i in ctx.state.users]
    return Response(200, {"users": users, "next_page": None, "previous_page": None,
                          "count": len(users)})


def _apply(ctx: Context, uid: int, change: Any) -> None:
    if not isinstance(change, dict):
        raise invalid_value("user must be an object")
    try:
        ctx.state.update_user(uid, change)
    except KeyError:
        raise not_found() from None
    except FieldValueError as exc:
        raise ApiError(422, "RecordInvalid", "Record validation errors",
                       {"user_fields": [{"description": str(exc),
                                         "error": "InvalidValue"}]}) from None
    except InvalidChange as exc:
        raise ApiError(422, "RecordInvalid", "Record validation errors", exc.details) from None


def update(ctx: Context, req: Request) -> Response:
    """PUT users/{id}.json with {"user": {"user_fields": {...}, "tags": [...]}}."""
    uid = _id(req)
    _apply(ctx, uid, enveloped(req, "user"))
    return Response(200, {"user": _user(ctx, uid)})


def update_many(ctx: Context, req: Request) -> Response:
    """PUT users/update_many.json: a job; a user whose values do not fit is left unchanged
    and reported in the results, the others are written."""
    return update_many_job(ctx, req, "user", _apply)


def job_status(ctx: Context, req: Request) -> Response:
    status = ctx.jobs.poll(req.params["id"], req.base_url)
    if status is None:
        raise not_found()
    return Response(200, {"job_status": status})


def job_statuses_show_many(ctx: Context, req: Request) -> Response:
    """GET job_statuses/show_many.json?ids=a,b: {"job_statuses": [...]}; ids the account
    does not know (or no longer keeps) are left out rather than refused."""
    raw = req.arg("ids")
    ids = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not ids:
        raise invalid_value("ids is required")
    return Response(200, {"job_statuses": ctx.jobs.poll_many(ids, req.base_url)})


# ------------------------------------------------------------------ user fields
def fields(ctx: Context, req: Request) -> Response:
    return Response(200, list_page(req, ctx.state.user_fields(), "user_fields"))


def field_create(ctx: Context, req: Request) -> Response:
    """POST user_fields.json: 201, or 422 RecordInvalid (duplicate key, bad type, ...)."""
    try:
        field = ctx.state.create_user_field(enveloped(req, "user_field"))
    except InvalidChange as exc:
        raise ApiError(422, "RecordInvalid", "Record validation errors", exc.details) from None
    return Response(201, {"user_field": field})


# ------------------------------------------------------------------ orgs and groups
def _show(ctx: Context, records: Mapping[int, Org | Group], rid: int, key: str) -> Response:
    """GET {key}s/{id}.json for a record that renders from the base URL alone."""
    with ctx.state.lock:
        record = records.get(rid)
        if record is None:
            raise not_found()
        return Response(200, {key: record.to_json(ctx.state.base_url)})


def org_show(ctx: Context, req: Request) -> Response:
    return _show(ctx, ctx.state.organizations, _id(req), "organization")


def orgs_show_many(ctx: Context, req: Request) -> Response:
    with ctx.state.lock:
        orgs = [ctx.state.organizations[i].to_json(ctx.state.base_url)
                for i in ids_param(req) if i in ctx.state.organizations]
    return Response(200, {"organizations": orgs, "next_page": None, "previous_page": None,
                          "count": len(orgs)})


def org_users(ctx: Context, req: Request) -> Response:
    """GET organizations/{id}/users.json, ordered by id; offset or cursor paging."""
    oid = _id(req)
    state = ctx.state
    with state.lock:
        if oid not in state.organizations:
            raise not_found()
        ids = sorted(u.id for u in state.users.values() if u.organization_id == oid)
    body = list_page(req, [{"id": i} for i in ids], "users")  # page first, render the page
    with state.lock:
        keys = state.field_keys()
        body["users"] = [state.users[i["id"]].to_json(state.base_url, keys)
                         for i in body["users"]]
    return Response(200, body)


def group_show(ctx: Context, req: Request) -> Response:
    return _show(ctx, ctx.state.groups, _id(req), "group")
