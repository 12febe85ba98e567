"""Notes (crm-notes-v3): batch create with inline associations, batch read; and the
v4 association read from tickets to their notes (crm-associations-v4), which is how a
client finds the notes a lost create answer made.

HubSpot validates the whole request before creating anything, so one bad value or one
association to a record that does not exist refuses the batch with a 400; the sandbox does
the same (the exact wording of HubSpot's association error is unverified).
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
from .values import normalize_value, now_ms


def _associations(state: HubSpotState, item: dict[str, Any],
                  missing: list[str]) -> tuple[list[str], list[str]]:
    """(contact ids, ticket ids) of one input; unknown targets are added to `missing`."""
    raw = item.get("associations")
    if not isinstance(raw, list):
        raise ApiError(400, "Invalid input JSON: every input needs an 'associations' list.",
                       "VALIDATION_ERROR")
    linked: dict[str, list[str]] = {"contacts": [], "tickets": []}
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
            kind = seed.NOTE_ASSOCIATION_TARGETS.get(type_id) if isinstance(type_id, int) else None
            if category != "HUBSPOT_DEFINED" or kind is None:
                raise ApiError(400, f"Association type {category}/{type_id} is not valid from "
                               "notes.", "VALIDATION_ERROR")
            store = state.contacts if kind == "contacts" else state.tickets
            if target not in store:
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
    if not values.get("hs_timestamp"):
        problems.append({"isValid": False, "name": "hs_timestamp", "error": "REQUIRED_PROPERTY",
                         "message": "hs_timestamp is required to create a note",
                         "localizedErrorMessage": "hs_timestamp is required"})
    body = values.get("hs_note_body") or ""
    if len(body) > seed.NOTE_BODY_MAX:
        problems.append({"isValid": False, "name": "hs_note_body", "error": "INVALID_LENGTH",
                         "message": f"hs_note_body is longer than {seed.NOTE_BODY_MAX} "
                         "characters", "localizedErrorMessage": "note body too long"})
    return values


def notes_create(ctx: Context, req: Request) -> Response:
    """201 with the created notes; any bad value or unknown association target -> 400."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS, need_props=True, need_id=False)
    state = ctx.state
    with state.lock:
        defs = state.properties["notes"]
        problems: list[dict[str, Any]] = []
        missing: list[str] = []
        planned = []
        for item in inputs:
            values = _values(defs, item["properties"], problems)
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
            rec = state.add_note(values, contacts, tickets)
            public = rec.public([*values, *seed.NOTE_ALWAYS])
            if isinstance(trace, str):
                public["objectWriteTraceId"] = trace
            results.append(public)
    return batch_response(results, [], started, status=201)


def notes_read(ctx: Context, req: Request) -> Response:
    """Batch read by id; unknown ids -> 207 OBJECT_NOT_FOUND (crm-notes-v3 batch/read)."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS)
    if req.body.get("idProperty") not in (None, "", "hs_object_id"):
        raise ApiError(400, f"Property '{req.body['idProperty']}' is not a unique identifier "
                       "property.")
    state = ctx.state
    with state.lock:
        names = seed.returned_properties(state.properties["notes"], req.body.get("properties"),
                                         (), seed.NOTE_ALWAYS)
        results, missing = [], []
        for item in inputs:
            note = state.note_records.get(str(item["id"]))
            if note is None:
                missing.append(str(item["id"]))
            else:
                results.append(note.record.public(names))
    errors = [batch_error(
        "OBJECT_NOT_FOUND", "Could not get some NOTE objects, they may be deleted or not "
        "exist. Check that ids are valid.", {"ids": missing})] if missing else []
    return batch_response(results, errors, started)


def ticket_notes_read(ctx: Context, req: Request) -> Response:
    """v4 batch read: each ticket's notes (typeId 227); unknown or bare tickets -> 207."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_ASSOCIATION_INPUTS)
    results: list[dict[str, Any]] = []
    unknown: list[str] = []
    bare: list[str] = []
    state = ctx.state
    with state.lock:
        for item in inputs:
            tid = str(item["id"])
            if tid not in state.tickets:
                unknown.append(tid)
                continue
            linked = [nid for nid, note in state.note_records.items() if tid in note.ticket_ids]
            if not linked:
                bare.append(tid)
                continue
            results.append({"from": {"id": tid}, "to": [{
                "toObjectId": int(nid),
                "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                      "typeId": seed.TICKET_TO_NOTE_TYPE_ID, "label": None}],
            } for nid in linked]})
    errors = []
    if unknown:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"Could not find tickets with ids {', '.join(unknown)}.",
            {"fromObjectId": unknown}, "crm.associations.OBJECT_NOT_FOUND"))
    if bare:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"No notes are associated with tickets {', '.join(bare)}.",
            {"fromObjectId": bare}, "crm.associations.NO_ASSOCIATIONS_FOUND"))
    return batch_response(results, errors, started)


def notes_archive(ctx: Context, req: Request) -> Response:
    """Batch archive by id (crm-notes-v3): 204, no body. An archived note leaves batch reads
    and association reads (it sits in the recycling bin); an unknown or already archived id
    is no error, as on HubSpot, so a retried archive is harmless."""
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS)
    state = ctx.state
    with state.lock:
        for item in inputs:
            note = state.note_records.pop(str(item["id"]), None)
            if note is not None:
                state.archived_notes[str(item["id"])] = note
    return Response(204, None)
