"""Ticket hooks on HubSpot: the answer as a note on the ticket and on its primary contact.

HubSpot tickets have no tags, so `TicketUpdate.add_tags` is ignored (workflows there react
to the contact properties the write-back sets). A note is created with notes batch create,
100 per call, associated inline with the default HUBSPOT_DEFINED types note->ticket (228)
and note->contact (202). The primary contact comes from one associations v4 batch read for
the whole call (up to 1,000 tickets), the read the poll already uses.

hs_note_body is rendered as HTML in HubSpot, so the customer's text is escaped (and its line
breaks kept) before it is sent. Batch create is all-or-nothing: a refused batch (e.g. a
ticket deleted since the survey) is halved until the refused ticket stands alone, so one bad
ticket never blocks the others.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from hubspot.crm.objects.notes import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInputForCreate,
)

from closedloop.integration._translate import redact
from closedloop.integration.base import TicketUpdate, WriteResult
from closedloop.integration.errors import RecordRejected
from closedloop.integration.hubspot._errors import batch_errors

log = structlog.get_logger(__name__)

NOTE_BATCH: Final = 100
NOTE_TO_TICKET: Final = 228
NOTE_TO_CONTACT: Final = 202
NOTE_BODY_MAX: Final = 65_536  # characters HubSpot keeps in hs_note_body

CallFn = Callable[..., Any]  # HubSpotAdapter._call
ContactsOf = Callable[[Sequence[str]], dict[str, tuple[str, ...]]]
Pending = list[tuple[str, str]]  # (ticket id, note body as HTML)


def note_html(text: str) -> str:
    """Plain text -> a safe hs_note_body (escaped, line breaks kept, within HubSpot's limit)."""
    def render(plain: str) -> str:
        return "<br>".join(html.escape(line) for line in plain.splitlines() or [""])

    body = render(text)
    while len(body) > NOTE_BODY_MAX:
        text = text[: len(text) * 9 // 10]
        body = render(text + "…")
    return body


def _spec(type_id: int) -> AssociationSpec:
    return AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)


def _input(ticket_id: str, body: str, contact_id: str | None,
           stamp: str) -> SimplePublicObjectBatchInputForCreate:
    links = [PublicAssociationsForObject(to=PublicObjectId(id=ticket_id),
                                         types=[_spec(NOTE_TO_TICKET)])]
    if contact_id:
        links.append(PublicAssociationsForObject(to=PublicObjectId(id=contact_id),
                                                 types=[_spec(NOTE_TO_CONTACT)]))
    return SimplePublicObjectBatchInputForCreate(
        properties={"hs_note_body": body, "hs_timestamp": stamp}, associations=links,
        object_write_trace_id=ticket_id)


def _create(call: CallFn, notes_api: Any, chunk: Pending, primary: Mapping[str, str | None],
            stamp: str, result: WriteResult) -> None:
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[_input(tid, note, primary.get(tid), stamp) for tid, note in chunk])
    try:
        answer = call("notes_create", notes_api.create,
                      batch_input_simple_public_object_batch_input_for_create=body)
    except RecordRejected as exc:
        if len(chunk) > 1:
            half = len(chunk) // 2
            _create(call, notes_api, chunk[:half], primary, stamp, result)
            _create(call, notes_api, chunk[half:], primary, stamp, result)
            return
        result.rejected[chunk[0][0]] = redact(str(exc))[:500]
        return
    ids = [tid for tid, _ in chunk]
    rejected = batch_errors(getattr(answer, "errors", None), ids)
    result.rejected.update(rejected)
    result.written.extend(tid for tid in ids if tid not in rejected)


def add_ticket_notes(call: CallFn, notes_api: Any, contacts_of: ContactsOf,
                     updates: Sequence[TicketUpdate], *, source: str) -> WriteResult:
    """Create one note per update that has one; tag-only updates count as written (no-op)."""
    pending: Pending = list(dict.fromkeys(
        (str(u.ticket_id), note_html(u.note)) for u in updates if u.note and u.note.strip()))
    result = WriteResult()
    if pending:
        linked = contacts_of(list(dict.fromkeys(tid for tid, _ in pending)))
        primary = {tid: (ids[0] if ids else None) for tid, ids in linked.items()}
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for start in range(0, len(pending), NOTE_BATCH):
            _create(call, notes_api, pending[start:start + NOTE_BATCH], primary, stamp, result)
    written = [tid for tid in dict.fromkeys(
        [*result.written, *(str(u.ticket_id) for u in updates)]) if tid not in result.rejected]
    tags = sum(1 for u in updates if u.add_tags)
    log.info("hubspot.tickets.noted", source=source, notes=len(pending),
             rejected=len(result.rejected), tags_ignored=tags)
    return WriteResult(written=written, rejected=result.rejected)
