"""Tasks (crm-tasks-v3): batch create with inline associations, batch update, batch read;
and the v4 association read from contacts to their tasks (crm-associations-v4), which is
how a client finds the task a lost create answer made.

Like notes, HubSpot validates the whole create before making anything: one bad value (an
owner id that is not an owner any more), a missing hs_timestamp or an association to a
record that does not exist refuses the batch with a 400. Batch update answers 207 with
OBJECT_NOT_FOUND for ids it does not know and updates the others.
"""

from __future__ import annotations

from typing import Any

from . import seed
from .crm_handlers import (
    MAX_ASSOCIATION_INPUTS,
    MAX_BATCH_INPUTS,
    batch_response,
    inputs_of,
    invalid_values,
)
from .errors import ApiError, batch_error
from .routing import Context, Request, Response
from .state import HubSpotState
from .values import iso_ms, normalize_value, now_ms


def _associations(state: HubSpotState, item: dict[str, Any],
                  missing: list[str]) -> tuple[list[str], list[str]]:
    linked: dict[str, list[str]] = {"contacts": [], "tickets": []}
    raw = item.get("associations") or []
    if not isinstance(raw, list):
        raise ApiError(400, "Invalid input JSON: 'associations' must be a list.",
                       "VALIDATION_ERROR")
    for assoc in raw:
        to = assoc.get("to") if isinstance(assoc, dict) else None
        types = assoc.get("types") if isinstance(assoc, dict) else None
        if not isinstance(to, dict) or not isinstance(to.get("id"), str | int) \
                or not isinstance(types, list) or not types:
            raise ApiError(400, "Invalid input JSON: an association needs 'to.id' and 'types'.",
                           "VALIDATION_ERROR")
        target = str(to["id"])
        for spec in types:
            category = spec.get("associationCategory") if isinstance(spec, dict) else None
            type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
            kind = seed.TASK_ASSOCIATION_TARGETS.get(type_id) if isinstance(type_id, int) else None
            if category != "HUBSPOT_DEFINED" or kind is None:
                raise ApiError(400, f"Association type {category}/{type_id} is not valid from "
                               "tasks.", "VALIDATION_ERROR")
            records = state.contacts if kind == "contacts" else state.tickets
            if target not in records:
                missing.append(f"{kind[:-1]} {target}")
            elif target not in linked[kind]:
                linked[kind].append(target)
    return linked["contacts"], linked["tickets"]


def _values(defs: dict[str, dict[str, Any]], props: dict[str, Any],
            problems: list[dict[str, Any]]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name, raw in props.items():
        value, problem = normalize_value(defs.get(name), name, raw)
        if problem is not None:
            problems.append(problem)
        values[name] = value
    return values


def tasks_create(ctx: Context, req: Request) -> Response:
    """201 with the created tasks; any bad value or unknown association target -> 400."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS, need_props=True, need_id=False)
    state = ctx.state
    with state.lock:
        defs = state.properties["tasks"]
        problems: list[dict[str, Any]] = []
        missing: list[str] = []
        planned = []
        for item in inputs:
            values = _values(defs, item["properties"], problems)
            if not values.get("hs_timestamp"):
                problems.append({"isValid": False, "name": "hs_timestamp",
                                 "error": "REQUIRED_PROPERTY",
                                 "message": "hs_timestamp is required to create a task",
                                 "localizedErrorMessage": "hs_timestamp is required"})
            values.setdefault("hs_task_status", "NOT_STARTED")
            contacts, tickets = _associations(state, item, missing)
            planned.append((values, contacts, tickets, item.get("objectWriteTraceId")))
        if problems:
            raise invalid_values(problems)
        if missing:
            raise ApiError(400, "One or more associations are invalid: could not find "
                           + ", ".join(dict.fromkeys(missing)) + ".", "VALIDATION_ERROR",
                           context={"ids": [m.split(" ", 1)[1] for m in dict.fromkeys(missing)]})
        results = []
        for values, contacts, tickets, trace in planned:
            rec = state.add_task(values, contacts, tickets)
            public = rec.public([*values, *seed.TASK_ALWAYS])
            if isinstance(trace, str):
                public["objectWriteTraceId"] = trace
            results.append(public)
    return batch_response(results, [], started, status=201)


def tasks_update(ctx: Context, req: Request) -> Response:
    """Batch update by id: a bad value refuses the batch (400); unknown ids -> 207."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS, need_props=True)
    state = ctx.state
    with state.lock:
        defs = state.properties["tasks"]
        problems: list[dict[str, Any]] = []
        planned = [(str(i["id"]), _values(defs, i["properties"], problems), i) for i in inputs]
        if problems:
            raise invalid_values(problems)
        results, missing = [], []
        for tid, values, item in planned:
            task = state.task_records.get(tid)
            if task is None:
                missing.append(tid)
                continue
            stamp = now_ms()
            task.record.props.update(values)
            task.record.props["hs_lastmodifieddate"] = iso_ms(stamp)
            task.record.updated_ms = stamp
            public = task.record.public([*values, *seed.TASK_ALWAYS])
            if isinstance(item.get("objectWriteTraceId"), str):
                public["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(public)
    errors = [batch_error(
        "OBJECT_NOT_FOUND", "Could not get some TASK objects, they may be deleted or not "
        "exist. Check that ids are valid.", {"ids": missing})] if missing else []
    return batch_response(results, errors, started)


def tasks_read(ctx: Context, req: Request) -> Response:
    """Batch read by id; unknown ids -> 207 OBJECT_NOT_FOUND."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS)
    if req.body.get("idProperty") not in (None, "", "hs_object_id"):
        raise ApiError(400, f"Property '{req.body['idProperty']}' is not a unique identifier "
                       "property.")
    state = ctx.state
    with state.lock:
        names = seed.returned_properties(state.properties["tasks"], req.body.get("properties"),
                                         (), seed.TASK_ALWAYS)
        results, missing = [], []
        for item in inputs:
            task = state.task_records.get(str(item["id"]))
            if task is None:
                missing.append(str(item["id"]))
            else:
                results.append(task.record.public(names))
    errors = [batch_error(
        "OBJECT_NOT_FOUND", "Could not get some TASK objects, they may be deleted or not "
        "exist. Check that ids are valid.", {"ids": missing})] if missing else []
    return batch_response(results, errors, started)


def contact_tasks_read(ctx: Context, req: Request) -> Response:
    """v4 batch read: each contact's tasks (typeId 203); unknown or bare contacts -> 207."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_ASSOCIATION_INPUTS)
    results: list[dict[str, Any]] = []
    unknown: list[str] = []
    bare: list[str] = []
    state = ctx.state
    with state.lock:
        for item in inputs:
            cid = str(item["id"])
            if cid not in state.contacts:
                unknown.append(cid)
                continue
            linked = [tid for tid, t in state.task_records.items() if cid in t.contact_ids]
            if not linked:
                bare.append(cid)
                continue
            results.append({"from": {"id": cid}, "to": [{
                "toObjectId": int(tid),
                "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                      "typeId": seed.CONTACT_TO_TASK_TYPE_ID, "label": None}],
            } for tid in linked]})
    errors = []
    if unknown:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"Could not find contacts with ids {', '.join(unknown)}.",
            {"fromObjectId": unknown}, "crm.associations.OBJECT_NOT_FOUND"))
    if bare:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"No tasks are associated with contacts {', '.join(bare)}.",
            {"fromObjectId": bare}, "crm.associations.NO_ASSOCIATIONS_FOUND"))
    return batch_response(results, errors, started)
