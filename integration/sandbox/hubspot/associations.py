"""What the sandbox's engagement objects (notes, tasks) share with each other and with tickets:
inline associations on create, batch read by id, and the v4 association batch read.

One shape each, as HubSpot answers them (crm-associations-v4, crm-notes-v3, crm-tasks-v3), so
a new engagement object adds a row of parameters, not a copy of the handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import seed
from .crm_handlers import MAX_ASSOCIATION_INPUTS, MAX_BATCH_INPUTS, batch_response, inputs_of
from .errors import ApiError, batch_error
from .routing import Context, Request, Response
from .state import HubSpotState
from .values import now_ms


def inline_associations(state: HubSpotState, item: dict[str, Any], missing: list[str], *,
                        targets: Mapping[int, str], origin: str,
                        required: bool) -> tuple[list[str], list[str]]:
    """(contact ids, ticket ids) of one create input; unknown targets are added to `missing`.

    `targets` maps association type ids to "contacts"/"tickets"; `origin` names the object in
    the error ("notes"); `required`: the input must carry an `associations` list."""
    raw = item.get("associations") if required else item.get("associations") or []
    if not isinstance(raw, list):
        message = ("every input needs an 'associations' list." if required
                   else "'associations' must be a list.")
        raise ApiError(400, f"Invalid input JSON: {message}", "VALIDATION_ERROR")
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
            kind = targets.get(type_id) if isinstance(type_id, int) else None
            if category != "HUBSPOT_DEFINED" or kind is None:
                raise ApiError(400, f"Association type {category}/{type_id} is not valid from "
                               f"{origin}.", "VALIDATION_ERROR")
            records = state.contacts if kind == "contacts" else state.tickets
            if target not in records:
                missing.append(f"{kind[:-1]} {target}")
            elif target not in linked[kind]:
                linked[kind].append(target)
    return linked["contacts"], linked["tickets"]


def read_by_id(ctx: Context, req: Request, *, object_type: str, label: str,
               records: Callable[[HubSpotState], Mapping[str, Any]],
               always: Iterable[str]) -> Response:
    """Batch read by id; unknown ids -> 207 OBJECT_NOT_FOUND (`label`: "NOTE", "TASK")."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_BATCH_INPUTS)
    if req.body.get("idProperty") not in (None, "", "hs_object_id"):
        raise ApiError(400, f"Property '{req.body['idProperty']}' is not a unique identifier "
                       "property.")
    state = ctx.state
    with state.lock:
        names = seed.returned_properties(state.properties[object_type],
                                         req.body.get("properties"), (), tuple(always))
        results, missing = [], []
        found = records(state)
        for item in inputs:
            hit = found.get(str(item["id"]))
            if hit is None:
                missing.append(str(item["id"]))
            else:
                results.append(hit.record.public(names))
    errors = [batch_error(
        "OBJECT_NOT_FOUND", f"Could not get some {label} objects, they may be deleted or not "
        "exist. Check that ids are valid.", {"ids": missing})] if missing else []
    return batch_response(results, errors, started)


def association_read(ctx: Context, req: Request, *, sources: str, targets: str, type_id: int,
                     exists: Callable[[HubSpotState, str], bool],
                     linked: Callable[[HubSpotState, str], Iterable[str]]) -> Response:
    """v4 batch read from `sources` ("tickets") to `targets` ("notes"): one result per source
    with its targets; unknown or bare sources -> 207 with HubSpot's two error kinds."""
    started = now_ms()
    inputs = inputs_of(req.body, MAX_ASSOCIATION_INPUTS)
    results: list[dict[str, Any]] = []
    unknown: list[str] = []
    bare: list[str] = []
    state = ctx.state
    with state.lock:
        for item in inputs:
            source = str(item["id"])
            if not exists(state, source):
                unknown.append(source)
                continue
            found = list(dict.fromkeys(linked(state, source)))
            if not found:
                bare.append(source)
                continue
            results.append({"from": {"id": source}, "to": [{
                "toObjectId": int(target),
                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id,
                                      "label": None}],
            } for target in found]})
    errors = []
    if unknown:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"Could not find {sources} with ids {', '.join(unknown)}.",
            {"fromObjectId": unknown}, "crm.associations.OBJECT_NOT_FOUND"))
    if bare:
        errors.append(batch_error(
            "OBJECT_NOT_FOUND", f"No {targets} are associated with {sources} "
            f"{', '.join(bare)}.", {"fromObjectId": bare},
            "crm.associations.NO_ASSOCIATIONS_FOUND"))
    return batch_response(results, errors, started)


def ticket_contacts_read(ctx: Context, req: Request) -> Response:
    """v4 batch read: each ticket's contacts (typeId 16); unknown or bare tickets -> 207."""
    return association_read(
        ctx, req, sources="tickets", targets="contacts", type_id=seed.TICKET_TO_CONTACT_TYPE_ID,
        exists=lambda state, tid: tid in state.tickets,
        linked=lambda state, tid: state.ticket_contacts.get(tid) or ())
