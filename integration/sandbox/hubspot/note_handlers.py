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
from .associations import association_read, inline_associations, read_by_id
from .crm_handlers import (
    MAX_BATCH_INPUTS,
    batch_response,
    inputs_of,
    invalid_values,
)
from .errors import ApiError
from .routing import Context, Request, Response
from .state import HubSpotState
from .values import normalize_value, now_ms


def _associations(state: HubSpotState, item: dict[str, Any],
                  missing: list[str]) -> tuple[list[str], list[str]]:
    """(contact ids, ticket ids) of one input; unknown targets are added to `missing`."""
    return inline_associations(state, item, missing, targets=seed.NOTE_ASSOCIATION_TARGETS,
                               origin="notes", required=True)


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
    return read_by_id(ctx, req, object_type="notes", label="NOTE",
                      records=lambda state: state.note_records, always=seed.NOTE_ALWAYS)


def ticket_notes_read(ctx: Context, req: Request) -> Response:
    """v4 batch read: each ticket's notes (typeId 227); unknown or bare tickets -> 207."""
    return association_read(
        ctx, req, sources="tickets", targets="notes", type_id=seed.TICKET_TO_NOTE_TYPE_ID,
        exists=lambda state, tid: tid in state.tickets,
        linked=lambda state, tid: [nid for nid, note in state.note_records.items()
                                   if tid in note.ticket_ids])


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
