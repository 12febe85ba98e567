"""Ticket hooks on HubSpot: the answer as a note on the ticket and on its primary contact.

HubSpot tickets have no tags, so `TicketUpdate.add_tags` is ignored (workflows there react
to the contact properties the write-back sets). A note is created with notes batch create,
100 per call, as plain JSON (_raw.py: no SDK model per note), associated inline with the
default HUBSPOT_DEFINED types note->ticket (228) and note->contact (202). The contacts are
the update's `contact_ids` (those whose answers the note carries); an update without them
gets the ticket's primary contact from one associations v4 batch read for the whole call
(up to 1,000 tickets), the read the poll already uses.

hs_note_body is rendered as HTML in HubSpot, so the customer's text is escaped (and its line
breaks kept) before it is sent. Batch create is all-or-nothing: a refused batch (e.g. a
ticket deleted since the survey) is halved until the refused ticket stands alone, so one bad
ticket never blocks the others.

Creates are idempotent: an update with a `key` carries it in the note as ``[key]``. When a
create's outcome is unknown (a 5xx, a timeout or a cut connection: HubSpot may have created
the notes and lost the answer), the next attempt first reads the notes on those tickets
(associations v4 tickets->notes, then notes batch read) and creates only the ones whose
marker is not there; `check_first` updates (an earlier run's outcome was unknown) are looked
up before the first attempt too. A 429 or a 4xx created nothing, so no lookup follows them.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Final

import structlog
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.notes import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from closedloop.integration._translate import redact
from closedloop.integration.base import TicketUpdate, WriteResult
from closedloop.integration.errors import RecordRejected
from closedloop.integration.hubspot._errors import batch_errors, outcome_unknown
from closedloop.integration.hubspot._tickets import ASSOCIATION_BATCH

log = structlog.get_logger(__name__)

NOTE_BATCH: Final = 100
NOTE_TO_TICKET: Final = 228
NOTE_TO_CONTACT: Final = 202
NOTE_BODY_MAX: Final = 65_536  # characters HubSpot keeps in hs_note_body
READ_BATCH: Final = 100  # notes batch read limit

CallFn = Callable[..., Any]  # HubSpotAdapter._call_self_counted: fn counts its calls
CountFn = Callable[[str], None]  # one HTTP call made to an endpoint
PostFn = Callable[[str, dict[str, Any]], dict[str, Any]]  # RawCalls.post_json: one attempt
ContactsOf = Callable[[Sequence[str]], dict[str, tuple[str, ...]]]
Landed = Callable[[Sequence[tuple[str, str]]], set[str]]
"""(ticket id, marker) pairs -> the markers already in a note on that ticket (one try)."""


@dataclass(frozen=True)
class _Note:
    ticket_id: str
    body: str  # HTML, with the marker
    marker: str | None  # "[key]", None without a key
    check_first: bool
    contact_ids: tuple[str, ...]  # empty: the ticket's primary contact, read before creating


Pending = list[_Note]


def marker_of(key: str | None) -> str | None:
    return None if not key else f"[{key}]"


def note_html(text: str, reserve: int = 0) -> str:
    """Plain text -> a safe hs_note_body (escaped, line breaks kept, within HubSpot's limit
    less `reserve` characters kept for the marker)."""
    def render(plain: str) -> str:
        return "<br>".join(html.escape(line) for line in plain.splitlines() or [""])

    body = render(text)
    while len(body) > NOTE_BODY_MAX - reserve:
        text = text[: len(text) * 9 // 10]
        body = render(text + "…")
    return body


def association(to_id: str, type_id: int) -> dict[str, Any]:
    """One inline association of a batch create, as the SDK's models serialize it."""
    return {"to": {"id": to_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


def _input(note: _Note, contact_ids: Sequence[str], stamp: str) -> dict[str, Any]:
    """One note of a batch create, as plain JSON (the SDK's SimplePublicObjectBatchInput-
    ForCreate serialized: tests/integration/test_hubspot_raw_writes.py)."""
    links = [association(note.ticket_id, NOTE_TO_TICKET)]
    links += [association(c, NOTE_TO_CONTACT) for c in contact_ids]
    return {"properties": {"hs_note_body": note.body, "hs_timestamp": stamp},
            "associations": links, "objectWriteTraceId": note.ticket_id}


def errors_of(answer: Any) -> list[SimpleNamespace]:
    """A plain-JSON batch answer's errors, shaped as batch_errors reads them."""
    return [SimpleNamespace(**e) for e in (answer or {}).get("errors") or []
            if isinstance(e, dict)]


def _drop_landed(notes: Pending, landed: Landed, result: WriteResult) -> Pending:
    """The notes whose marker is not on their ticket yet; the others count as written."""
    asked = [(n.ticket_id, n.marker) for n in notes if n.marker]
    found = landed(asked) if asked else set()
    if found:
        log.info("hubspot.notes.found_landed", notes=len(found))
    result.written.extend(n.ticket_id for n in notes if n.marker in found)
    return [n for n in notes if n.marker not in found]


def _create(call: CallFn, count: CountFn, post: PostFn, chunk: Pending,
            linked: Mapping[str, tuple[str, ...]], stamp: str, landed: Landed,
            result: WriteResult) -> None:
    todo = chunk
    unknown = any(n.check_first for n in chunk)  # an earlier run's outcome was unknown

    def attempt(**kwargs: Any) -> Any:
        nonlocal todo, unknown
        if unknown:  # the last attempt may have created notes: never create them twice
            todo = _drop_landed(todo, landed, result)
            unknown = False
        if not todo:
            return None
        body = {"inputs": [_input(n, n.contact_ids or linked.get(n.ticket_id, ()), stamp)
                           for n in todo]}
        count("notes_create")
        try:
            return post("notes_create", body)  # plain JSON (_raw.py); it holds the timeout
        except Exception as exc:
            unknown = outcome_unknown(exc)
            raise

    try:
        answer = call("notes_create", attempt)
    except RecordRejected as exc:
        if len(todo) > 1:
            half = len(todo) // 2
            _create(call, count, post, todo[:half], linked, stamp, landed, result)
            _create(call, count, post, todo[half:], linked, stamp, landed, result)
            return
        lone = todo[0]
        if lone.contact_ids or linked.get(lone.ticket_id):
            # a contact it links may be gone since the survey (deleted, merged): the answer
            # still goes on the ticket, linked to the ticket alone
            log.info("hubspot.notes.without_contacts", tickets=1)
            _create(call, count, post, [replace(lone, contact_ids=())], {}, stamp, landed,
                    result)
            return
        result.rejected[lone.ticket_id] = redact(str(exc))[:500]
        return
    ids = [n.ticket_id for n in todo]
    rejected = batch_errors(errors_of(answer), ids)
    result.rejected.update(rejected)
    result.written.extend(tid for tid in ids if tid not in rejected)


def add_ticket_notes(call: CallFn, count: CountFn, post: PostFn, contacts_of: ContactsOf,
                     landed: Landed, updates: Sequence[TicketUpdate], *,
                     source: str) -> WriteResult:
    """Create one note per update that has one; tag-only updates count as written (no-op)."""
    pending: Pending = []
    seen: set[tuple[str, str]] = set()
    for u in updates:
        if not (u.note and u.note.strip()):
            continue
        marker = marker_of(u.key)
        tail = f"<br><br>{html.escape(marker)}" if marker else ""
        body = note_html(u.note, reserve=len(tail)) + tail
        if (str(u.ticket_id), body) not in seen:
            seen.add((str(u.ticket_id), body))
            pending.append(_Note(str(u.ticket_id), body, marker, u.check_first,
                                 tuple(c for c in u.contact_ids if c)))
    result = WriteResult()
    if pending:
        unknown = list(dict.fromkeys(n.ticket_id for n in pending if not n.contact_ids))
        read = contacts_of(unknown) if unknown else {}
        linked = {tid: ids[:1] for tid, ids in read.items()}  # the primary contact
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for start in range(0, len(pending), NOTE_BATCH):
            _create(call, count, post, pending[start:start + NOTE_BATCH], linked, stamp,
                    landed, result)
    written = [tid for tid in dict.fromkeys(
        [*result.written, *(str(u.ticket_id) for u in updates)]) if tid not in result.rejected]
    tags = sum(1 for u in updates if u.add_tags)
    log.info("hubspot.tickets.noted", source=source, notes=len(pending),
             rejected=len(result.rejected), tags_ignored=tags)
    return WriteResult(written=written, rejected=result.rejected)


def landed_markers(associations_api: Any, notes_api: Any, count: CountFn,
                   timeout: tuple[float, float], wanted: Sequence[tuple[str, str]]) -> set[str]:
    """Which markers of (ticket id, marker) pairs a note on the ticket already carries.

    The ticket's notes come from associations v4 (consistent at once, unlike search's
    index), their bodies from notes batch read, 100 a call. No retry of its own.
    """
    markers: dict[str, set[str]] = {}
    for tid, marker in wanted:
        markers.setdefault(tid, set()).add(marker)
    tickets = list(markers)
    note_ids: list[str] = []
    for start in range(0, len(tickets), ASSOCIATION_BATCH):
        body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[
            PublicFetchAssociationsBatchRequest(id=tid)
            for tid in tickets[start:start + ASSOCIATION_BATCH]])
        count("ticket_notes")
        answer = associations_api.get_page(
            from_object_type="tickets", to_object_type="notes",
            batch_input_public_fetch_associations_batch_request=body, _request_timeout=timeout)
        note_ids += [str(to.to_object_id) for row in answer.results or [] for to in row.to or []]
    everything = {m for found in markers.values() for m in found}
    found: set[str] = set()
    for start in range(0, len(note_ids), READ_BATCH):
        read = BatchReadInputSimplePublicObjectId(
            properties=["hs_note_body"], properties_with_history=[],
            inputs=[SimplePublicObjectId(id=nid) for nid in note_ids[start:start + READ_BATCH]])
        count("notes_read")
        answer = notes_api.read(batch_read_input_simple_public_object_id=read,
                                _request_timeout=timeout)
        for note in answer.results or []:
            text = str((note.properties or {}).get("hs_note_body") or "")
            found.update(m for m in everything if m in text)
    return found
