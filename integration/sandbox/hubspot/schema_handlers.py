"""Pipelines, properties and property groups, and private-app token info."""

from __future__ import annotations

import copy
from typing import Any

from . import seed
from .errors import ApiError
from .routing import Context, Request, Response
from .values import iso_ms, now_ms, property_create_problem


def pipelines(ctx: Context, req: Request) -> Response:
    return Response(200, {"results": copy.deepcopy(ctx.state.pipelines)})


def pipeline(ctx: Context, req: Request) -> Response:
    for p in ctx.state.pipelines:
        if p["id"] == req.params["pipelineId"]:
            return Response(200, copy.deepcopy(p))
    raise ApiError(404, f"Unable to find pipeline {req.params['pipelineId']}.")


def _object_type(req: Request) -> str:
    return req.path.split("/")[4]


def properties(ctx: Context, req: Request) -> Response:
    return Response(200, {"results": ctx.state.properties_copy(_object_type(req))})


def property_by_name(ctx: Context, req: Request) -> Response:
    obj, name = _object_type(req), req.params["name"]
    with ctx.state.lock:
        prop = ctx.state.properties[obj].get(name)
        if prop is None:
            raise ApiError(404, f"Unable to find property {name} for object type {obj}.",
                           "OBJECT_NOT_FOUND", context={"propertyName": [name]})
        return Response(200, copy.deepcopy(prop))


def property_create(ctx: Context, req: Request) -> Response:
    """Create a custom property: 400 on bad type/fieldType or group, 409 if the name exists."""
    obj, body = _object_type(req), req.body
    with ctx.state.lock:
        problem = property_create_problem(body, set(ctx.state.groups[obj]))
        if problem:
            raise ApiError(400, problem, "VALIDATION_ERROR")
        name = body["name"]
        if name in ctx.state.properties[obj]:
            raise ApiError(409, f"Property named '{name}' already exists.", "CONFLICT",
                           subCategory="Properties.PROPERTY_EXISTS",
                           context={"propertyName": [name]})
        stamp = iso_ms(now_ms())
        prop: dict[str, Any] = {
            "name": name, "label": body["label"], "type": body["type"],
            "fieldType": body["fieldType"], "description": body.get("description") or "",
            "groupName": body["groupName"],
            "options": [{"label": o["label"], "value": o["value"],
                         "displayOrder": o.get("displayOrder", i),
                         "hidden": bool(o.get("hidden", False)),
                         **({"description": o["description"]} if o.get("description") else {})}
                        for i, o in enumerate(body.get("options") or [])],
            "displayOrder": body.get("displayOrder", -1), "calculated": False,
            "externalOptions": False, "hasUniqueValue": bool(body.get("hasUniqueValue", False)),
            "hidden": bool(body.get("hidden", False)), "formField": bool(body.get("formField")),
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False,
                                     "readOnlyValue": False},
            "createdUserId": str(seed.USER_ID), "updatedUserId": str(seed.USER_ID),
            "dataSensitivity": "non_sensitive",
            "createdAt": stamp, "updatedAt": stamp, "archived": False,
        }
        ctx.state.properties[obj][name] = prop
        return Response(201, copy.deepcopy(prop),
                        {"Location": f"{req.base_url}{req.path}/{name}"})


def groups(ctx: Context, req: Request) -> Response:
    with ctx.state.lock:
        return Response(200, {"results": copy.deepcopy(
            list(ctx.state.groups[_object_type(req)].values()))})


def group_by_name(ctx: Context, req: Request) -> Response:
    obj, name = _object_type(req), req.params["name"]
    with ctx.state.lock:
        group = ctx.state.groups[obj].get(name)
        if group is None:
            raise ApiError(404, f"Unable to find property group {name} for object type {obj}.",
                           "OBJECT_NOT_FOUND")
        return Response(200, dict(group))


def group_create(ctx: Context, req: Request) -> Response:
    obj, body = _object_type(req), req.body
    if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body.get(k) for k in ("name", "label")):
        raise ApiError(400, "Some required fields were not set: [name, label]",
                       "VALIDATION_ERROR")
    order = body.get("displayOrder", -1)
    if not isinstance(order, int):
        raise ApiError(400, "displayOrder must be an integer.", "VALIDATION_ERROR")
    with ctx.state.lock:
        name = body["name"]
        if name in ctx.state.groups[obj]:
            raise ApiError(409, f"A property group named '{name}' already exists.", "CONFLICT",
                           context={"groupName": [name]})
        group = {"name": name, "label": body["label"], "displayOrder": order,
                 "archived": False}
        ctx.state.groups[obj][name] = group
        return Response(201, dict(group),
                        {"Location": f"{req.base_url}{req.path}/{name}"})


def access_token_info(ctx: Context, req: Request) -> Response:
    """Private-app token introspection: who the token is and what it may do."""
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("tokenKey"), str):
        raise ApiError(400, "Invalid input JSON: expected {\"tokenKey\": \"...\"}.")
    if body["tokenKey"] != ctx.token:
        raise ApiError(401, "The access token provided is invalid or has expired.",
                       "INVALID_AUTHENTICATION")
    return Response(200, {"userId": seed.USER_ID, "hubId": seed.HUB_ID, "appId": seed.APP_ID,
                          "scopes": list(ctx.scopes)})
