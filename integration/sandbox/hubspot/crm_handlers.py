"""Object endpoints: ticket search and batch read, ticket->contact associations, contact
batch read/update."""

from __future__ import annotations

import json
from typing import Any, Final

from . import seed
from .errors import ApiError, batch_error
from .routing import Context, Request, Response
from .search import search_tickets
from .values import iso_ms, normalize_value, now_ms

MAX_ASSOCIATION_INPUTS: Final = 1000
MAX_BATCH_INPUTS: Final = 100


def inputs_of(body: Any, limit: int, *, need_props: bool = False,
              need_id: bool = True) -> list[dict[str, Any]]:
    """The validated "inputs" list of a batch body (400 on shape or size problems)."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ApiError(400, "Invalid input JSON: expected an object with an 'inputs' list.")
    inputs: list[dict[str, Any]] = body["inputs"]
    if len(inputs) > limit:
        raise ApiError(400, f"Batch input size {len(inputs)} exceeds the maximum of {limit}.",
                       context={"maxInputs": [str(limit)]})
    for item in inputs:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid input JSON: every input must be an object.")
        if need_id and not isinstance(item.get("id"), str | int):
            raise ApiError(400, "Invalid input JSON: every input needs an 'id'.")
        if need_props and not isinstance(item.get("properties"), dict):
            raise ApiError(400, "Invalid input JSON: every input needs a 'properties' object.")
    return inputs


def batch_response(results: list[dict[str, Any]], errors: list[dict[str, Any]],
                   started: int, status: int = 200) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                            "startedAt": iso_ms(started), "completedAt": iso_ms(now_ms())}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return Response(207, body)
    return Response(status, body)


def search(ctx: Context, req: Request) -> Response:
    return Response(200, search_tickets(ctx.state, req.body, req.base_url))




def tickets_read(ctx: Context, req: Request) -> Response:
    """Batch read by id; unknown and deleted ids -> 207 OBJECT_NOT_FOUND.

    `?archived=true` reads the deleted (archived) tickets instead, as HubSpot does.
    """
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS)
    if req.body.get("idProperty") not in (None, "", "hs_object_id"):
        raise ApiError(400, f"Property '{req.body['idProperty']}' is not a unique identifier "
                       "property.")
    archived = (req.query.get("archived") or ["false"])[0].lower() == "true"
    state = ctx.state
    with state.lock:
        names = seed.returned_properties(state.properties["tickets"], req.body.get("properties"),
                                         seed.TICKET_DEFAULT_PROPERTIES, seed.TICKET_ALWAYS)
        source = state.archived_tickets if archived else state.tickets
        results, missing = [], []
        for item in inputs:
            rec = source.get(str(item["id"]))
            if rec is None:
                missing.append(str(item["id"]))
            else:
                results.append(rec.public(names))
    errors = [batch_error(
        "OBJECT_NOT_FOUND", "Could not get some TICKET objects, they may be deleted or not "
        "exist. Check that ids are valid.", {"ids": missing})] if missing else []
    return batch_response(results, errors, started)


def _missing_contacts(ids: list[str]) -> dict[str, Any]:
    return batch_error(
        "OBJECT_NOT_FOUND",
        "Could not get some CONTACT objects, they may be deleted or not exist. "
        "Check that ids are valid.", {"ids": ids})


def contacts_read(ctx: Context, req: Request) -> Response:
    """Batch read by id (or by idProperty=email); unknown ids -> 207 OBJECT_NOT_FOUND."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS)
    requested = req.body.get("properties")
    id_property = req.body.get("idProperty")
    if id_property not in (None, "", "hs_object_id", "email"):
        raise ApiError(400, f"Property '{id_property}' is not a unique identifier property.")
    state = ctx.state
    with state.lock:
        props = state.properties["contacts"]
        names = seed.returned_properties(props, requested, seed.CONTACT_DEFAULT_PROPERTIES,
                                         seed.CONTACT_ALWAYS)
        results, missing = [], []
        for item in inputs:
            key = str(item["id"])
            cid = state.contact_by_email(key) if id_property == "email" else key
            if cid is None or cid not in state.contacts:
                missing.append(key)
            else:
                results.append(state.contacts[cid].public(names))
    return batch_response(results, [_missing_contacts(missing)] if missing else [], started)


def _planned_updates(req: Request, defs: dict[str, Any]
                     ) -> list[tuple[str, dict[str, str | None]]]:
    """A batch update's validated (id, values): duplicates or any bad value -> 400."""
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS, need_props=True)
    ids = [str(i["id"]) for i in inputs]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ApiError(400, f"Duplicate IDs found in batch input: {dupes}. IDs must be unique",
                       context={"ids": dupes})
    problems: list[dict[str, Any]] = []
    planned: list[tuple[str, dict[str, str | None]]] = []
    for item in inputs:
        values: dict[str, str | None] = {}
        for name, raw in item["properties"].items():
            value, problem = normalize_value(defs.get(name), name, raw)
            if problem is not None:
                problems.append(problem)
            values[name] = value
        planned.append((str(item["id"]), values))
    if problems:
        raise invalid_values(problems)
    return planned


def tickets_update(ctx: Context, req: Request) -> Response:
    """Batch update tickets: a bad property/value fails the whole request (400); a deleted
    or unknown ticket is a 207 OBJECT_NOT_FOUND error naming its id, the others land."""
    started = now_ms()
    state = ctx.state
    with state.lock:
        planned = _planned_updates(req, state.properties["tickets"])
        results, missing = [], []
        for tid, values in planned:
            if tid not in state.tickets:
                missing.append(tid)
                continue
            rec = state.update_ticket(tid, values)
            results.append(rec.public([*values, *seed.TICKET_ALWAYS]))
    errors = [batch_error(
        "OBJECT_NOT_FOUND", "Could not get some TICKET objects, they may be deleted or not "
        "exist. Check that ids are valid.", {"ids": missing})] if missing else []
    return batch_response(results, errors, started)


def contacts_update(ctx: Context, req: Request) -> Response:
    """Batch update: any bad property/value fails the whole request (400), like HubSpot."""
    started = now_ms()
    state = ctx.state
    with state.lock:
        planned = _planned_updates(req, state.properties["contacts"])
        results, missing = [], []
        for cid, values in planned:
            if cid not in state.contacts:
                missing.append(cid)
                continue
            rec = state.update_contact(cid, values)
            results.append(rec.public([*values, *seed.CONTACT_ALWAYS]))
    return batch_response(results, [_missing_contacts(missing)] if missing else [], started)


def invalid_values(problems: list[dict[str, Any]]) -> ApiError:
    return ApiError(
        400, "Property values were not valid: " + json.dumps(problems, ensure_ascii=False),
        "VALIDATION_ERROR",
        errors=[{"message": p["message"], "code": p["error"],
                 "context": {"propertyName": [p["name"]]}} for p in problems],
        context={"properties": sorted({p["name"] for p in problems})})
