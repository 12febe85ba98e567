"""Ticket-level feedback and attribution: tickets batch update and batch read, 100 per call.

An answer's score, category, comment and date also land as properties on the ticket the
survey was about (created by `closedloop setup` from the mapping's [ticket_properties]), so
ticket-based workflows can branch on feedback. Values are set, never appended: a retry
that writes them again changes nothing but the property history, so unlike notes there is
no look-up before a retry.

Attribution reads the same two properties the poll reads at close time (hubspot_owner_id,
hubspot_team_id; see _tickets.TICKET_PROPERTIES), now, for answers being written back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, Final

import structlog

from closedloop.integration.base import Attribution, TicketUpdate, WriteResult
from closedloop.integration.errors import PartialWrite, RecordRejected
from closedloop.integration.hubspot._errors import batch_errors

log = structlog.get_logger(__name__)

TICKET_BATCH: Final = 100  # tickets batch read/update limit
ATTRIBUTION_PROPERTIES: Final = ["hubspot_owner_id", "hubspot_team_id"]

CallFn = Callable[..., Any]  # HubSpotAdapter._call_json: (endpoint, body, query) -> JSON


def read_attribution(call: CallFn, ids: Sequence[str], *,
                     source: str) -> dict[str, Attribution]:
    """Owner and team of each live ticket; deleted or unknown ids are left out. `call` is
    the adapter's _call_json: the batch read goes as plain JSON (see _raw.py)."""
    unique = list(dict.fromkeys(str(i) for i in ids))
    out: dict[str, Attribution] = {}
    for start in range(0, len(unique), TICKET_BATCH):
        body = {"inputs": [{"id": i} for i in unique[start:start + TICKET_BATCH]],
                "properties": ATTRIBUTION_PROPERTIES}
        answer = call("tickets_read", body, "archived=false")
        for row in answer.get("results") or []:
            props: dict[str, Any] = row.get("properties") or {}
            out[str(row["id"])] = Attribution(owner_id=props.get("hubspot_owner_id") or None,
                                           team_id=props.get("hubspot_team_id") or None)
    log.info("hubspot.tickets.attributed", source=source, asked=len(unique), found=len(out))
    return out


def write_ticket_properties(call: CallFn, updates: Sequence[TicketUpdate],
                            *, source: str) -> WriteResult:
    """Set each update's `properties` on its ticket (merged per ticket, later values win).

    A ticket HubSpot refuses in a 207 (deleted since the survey) lands in `rejected`; a
    whole call refused (400: a property setup did not create) raises RecordRejected.
    """
    merged: dict[str, dict[str, str]] = {}
    for update in updates:
        if update.properties:
            merged.setdefault(str(update.ticket_id), {}).update(update.properties)
    result = WriteResult()
    items = list(merged.items())
    for start in range(0, len(items), TICKET_BATCH):
        chunk = items[start:start + TICKET_BATCH]
        body = {"inputs": [{"id": tid, "objectWriteTraceId": tid, "properties": props}
                           for tid, props in chunk]}
        answer = call("tickets_update", body)  # plain JSON: only the errors are read
        ids = [tid for tid, _ in chunk]
        rejected = batch_errors([SimpleNamespace(**e) for e in answer.get("errors") or []
                                 if isinstance(e, dict)], ids)
        result.rejected.update(rejected)
        result.written.extend(tid for tid in ids if tid not in rejected)
    if items:
        log.info("hubspot.tickets.properties_written", source=source, tickets=len(items),
                 rejected=len(result.rejected))
    return result


def properties_then_notes(call: CallFn,
                          add_notes: Callable[[Sequence[TicketUpdate]], WriteResult],
                          updates: Sequence[TicketUpdate], *, source: str) -> WriteResult:
    """Ticket properties first, then the notes (HubSpotAdapter.update_tickets).

    Properties are idempotent, so a failure before the notes leaves nothing a retry would
    duplicate. A ticket whose properties HubSpot refused (deleted since the survey) gets no
    note; when the notes end part way, the PartialWrite also names those refusals. A
    properties call refused whole (400: a ticket property `closedloop setup` has not created
    yet, after an upgrade) is logged and the notes still go: the hook that worked before is
    never blocked by the new one.
    """
    refused: dict[str, str] = {}
    if any(u.properties for u in updates):
        try:
            refused = write_ticket_properties(call, updates, source=source).rejected
        except RecordRejected as exc:
            log.warning("hubspot.tickets.properties_refused", source=source,
                        tickets=len(updates), status=exc.status, error=str(exc)[:300])
    rest = [u for u in updates if str(u.ticket_id) not in refused]
    try:
        noted = add_notes(rest)
    except PartialWrite as exc:
        exc.rejected.update(refused)
        raise
    return WriteResult(written=noted.written, rejected={**noted.rejected, **refused})
