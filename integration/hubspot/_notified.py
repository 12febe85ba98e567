"""Notified tickets read by id: tickets batch read (100 per call) with the poll's properties.

A webhook names tickets whose stage changed; the intake reads them here and keeps the ones
sitting in a CLOSED stage (of the configured pipelines) with a closed_date, built exactly as
the poll builds them (`_tickets._ticket`), so the two paths queue the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any, Final

from closedloop.integration.base import Ticket
from closedloop.integration.hubspot._contacts import with_extra
from closedloop.integration.hubspot._tickets import TICKET_PROPERTIES, _ticket

TICKET_BATCH: Final = 100

CallFn = Callable[..., Any]  # HubSpotAdapter._call_json: (endpoint, body, query) -> JSON
ContactsOf = Callable[[Sequence[str]], dict[str, tuple[str, ...]]]


def closed_tickets_by_id(call: CallFn, contacts_of: ContactsOf,
                         ids: Sequence[str], closed_stages: Collection[str],
                         extra: Sequence[str] = ()) -> list[Ticket]:
    """The tickets of `ids` that are closed now, with their contacts; others left out.
    `extra`: the segment properties the poll also reads (Ticket.properties)."""
    unique = list(dict.fromkeys(str(i) for i in ids if str(i).isdigit()))
    found: list[Ticket] = []
    for start in range(0, len(unique), TICKET_BATCH):
        body = {"inputs": [{"id": i} for i in unique[start:start + TICKET_BATCH]],
                "properties": with_extra(TICKET_PROPERTIES, extra)}
        answer = call("tickets_read", body, "archived=false")
        for row in answer.get("results") or []:
            ticket = _ticket(row, extra)
            if ticket is not None and ticket.stage in closed_stages:
                found.append(ticket)
    if not found:
        return []
    links = contacts_of([t.id for t in found])
    return [replace(t, contact_ids=links.get(t.id, ())) for t in found]
