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
from .associations import association_read, inline_associations, read_by_id
from .crm_handlers import (
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
    return inline_associations(state, item, missing, targets=seed.TASK_ASSOCIATION_TARGETS,
                               origin="tasks", required=False)


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
    return read_by_id(ctx, req, object_type="tasks", label="TASK",
                      records=lambda state: state.task_records, always=seed.TASK_ALWAYS)


def contact_tasks_read(ctx: Context, req: Request) -> Response:
    """v4 batch read: each contact's tasks (typeId 203); unknown or bare contacts -> 207."""
    return association_read(
        ctx, req, sources="contacts", targets="tasks", type_id=seed.CONTACT_TO_TASK_TYPE_ID,
        exists=lambda state, cid: cid in state.contacts,
        linked=lambda state, cid: [tid for tid, task in state.task_records.items()
                                   if cid in task.contact_ids])
