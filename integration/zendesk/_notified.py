"""Notified tickets read by id: show_many (100 per call) with the poll's sideloads.

A webhook names tickets a trigger saw solved; the intake reads them here and keeps the ones
solved or closed now, built exactly as the export builds them (`_tickets.to_ticket`, with
the `metric_sets` sideload for solved_at), so the two paths queue the same rows. Read as
plain JSON (_raw.py): zenpy's objects cost ten times the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from closedloop.integration.base import Ticket
from closedloop.integration.zendesk._paging import CallFn
from closedloop.integration.zendesk._raw import RawReader, answers
from closedloop.integration.zendesk._tickets import SIDELOADS, solved_times, to_ticket
from closedloop.integration.zendesk._user_memo import SideloadedUsers

ENDPOINT: Final = "tickets_show_many"


def closed_tickets_by_id(call: CallFn, raw: RawReader, ids: Sequence[str],
                         extra: Sequence[str] = (),
                         users: SideloadedUsers | None = None) -> list[Ticket]:
    """The tickets of `ids` that are solved or closed now; unknown or deleted left out.
    `users` keeps the sideloaded requesters of the tickets returned."""
    unique = list(dict.fromkeys(str(i) for i in ids if str(i).isdigit()))
    found: list[Ticket] = []
    for data in answers(call, raw, ENDPOINT, unique, include=",".join(SIDELOADS)):
        solved_at = solved_times(data)
        tickets = [t for t in (to_ticket(item, solved_at, extra)
                               for item in data.get("tickets") or [] if isinstance(item, dict))
                   if t is not None]
        if users is not None:
            users.keep_requesters(data, {c for t in tickets for c in t.contact_ids})
        found.extend(tickets)
    return found
