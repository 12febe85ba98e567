"""Closed tickets out of Zendesk's incremental ticket export (cursor based).

The export returns every ticket that changed since the cursor, in any status, one HTTP
page at a time (up to 1,000 tickets, 10 requests a minute). Only solved and closed tickets
become `Ticket`s; a ticket reopened or deleted later shows up again with its new status,
which the dispatch job's `reopened()` check catches before any survey goes out.

Each page is yielded with Zendesk's `after_cursor` of that very page, so persisting it
after the page's rows are stored resumes exactly after them (zenpy's flat iterator would
have overwritten `after_cursor` with the next page's before the last rows were handed out).
Pages are read as JSON (zenpy's URLs and call, no zenpy objects: see _paging.raw_pages).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import structlog

from closedloop.integration._values import picked
from closedloop.integration.base import Ticket, TicketPage
from closedloop.integration.errors import TransientError
from closedloop.integration.zendesk._cursor import ExportCursor
from closedloop.integration.zendesk._paging import CallFn, get_json
from closedloop.integration.zendesk._user_memo import SideloadedUsers

log = structlog.get_logger(__name__)

ENDPOINT = "incremental_tickets"
SOLVED_STATUSES = frozenset({"solved", "closed"})
SIDELOADS = ["metric_sets", "users"]
"""metric_sets for solved_at; users: the requesters, so contacts() needs no read of its own
(see _user_memo.py)."""


def parse_time(value: Any) -> datetime | None:
    """A Zendesk timestamp ("2026-05-01T10:00:00Z") as aware UTC; None when absent/invalid."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def str_id(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def solved_times(data: Mapping[str, Any]) -> dict[str, str]:
    """ticket id -> solved_at from the `metric_sets` sideload of one export page."""
    out: dict[str, str] = {}
    for metric in data.get("metric_sets") or []:
        if isinstance(metric, Mapping) and metric.get("solved_at"):
            tid = str_id(metric.get("ticket_id"))
            if tid is not None:
                out[tid] = str(metric["solved_at"])
    return out


def field_values(raw: Mapping[str, Any], names: Sequence[str]) -> dict[str, str]:
    """The ticket's values of `names` as text: a number names a custom field (its id in
    `custom_fields`), anything else a standard field of the ticket ("priority", "type",
    "brand_id"). Read from the ticket JSON already in hand: no request of its own."""
    if not names:
        return {}
    values: dict[str, Any] = {}
    custom = {str(f.get("id")): f.get("value") for f in raw.get("custom_fields") or []
              if isinstance(f, Mapping)}
    for name in names:
        values[name] = custom.get(name) if name.isdigit() else raw.get(name)
    return picked(values, names)


def to_ticket(raw: Mapping[str, Any], solved_at: Mapping[str, str],
              extra: Sequence[str] = ()) -> Ticket | None:
    """A Ticket for a solved/closed ticket; None for any other status (open, deleted, ...).

    closed_at is the metric set's solved_at (when the agent solved it), else updated_at
    (a closed ticket's last change is usually the automatic close, days later).
    """
    if raw.get("status") not in SOLVED_STATUSES:
        return None
    tid = str(raw["id"])
    embedded = raw.get("metric_set") if isinstance(raw.get("metric_set"), Mapping) else {}
    closed = (parse_time(solved_at.get(tid)) or parse_time((embedded or {}).get("solved_at"))
              or parse_time(raw.get("updated_at")))
    if closed is None:
        log.warning("zendesk.ticket.no_time", ticket=tid)
        return None
    requester = str_id(raw.get("requester_id"))
    return Ticket(
        id=tid,
        closed_at=closed,
        subject=str(raw.get("subject") or ""),
        pipeline=str_id(raw.get("brand_id")),
        stage=str(raw["status"]),
        owner_id=str_id(raw.get("assignee_id")),
        team_id=str_id(raw.get("group_id")),
        contact_ids=(requester,) if requester else (),
        organization_id=str_id(raw.get("organization_id")),
        properties=field_values(raw, extra),
    )


def closed_ticket_pages(call: CallFn, tickets_api: Any, start: ExportCursor, *,
                        page_size: int, source: str, extra: Sequence[str] = (),
                        users: SideloadedUsers | None = None) -> Iterator[TicketPage]:
    """One TicketPage per export page whose cursor moved; never a ticket twice per call.
    `extra`: the fields (see field_values) to put in each Ticket.properties. `users` keeps
    the page's sideloaded requesters of the tickets it yields."""

    export = tickets_api.endpoint.incremental
    if start.cursor is not None:
        # The URL zenpy's incremental(cursor=...) requests. zenpy neither URL-encodes the
        # cursor nor passes per_page along with it: encode it here; the page size is then
        # Zendesk's default (1,000, the maximum).
        url = tickets_api._build_url(endpoint=export.cursor(
            cursor=quote(start.cursor, safe=""), include=SIDELOADS, per_page=None))
    else:
        url = tickets_api._build_url(endpoint=export.cursor_start(
            start_time=start.start, include=SIDELOADS, per_page=page_size))
    data: dict[str, Any] = call(ENDPOINT, partial(get_json, tickets_api, url))
    state = start
    seen: set[str] = set()
    cursors: set[str] = set()
    while True:
        items = [i for i in data.get("tickets") or () if isinstance(i, Mapping)]
        after = data.get("after_cursor")
        moved = bool(after) and str(after) != state.cursor
        if after:
            if str(after) in cursors:
                raise TransientError(f"Zendesk export repeated the cursor {str(after)[:40]!r}")
            cursors.add(str(after))
            state = ExportCursor(cursor=str(after))
        solved_at = solved_times(data)
        tickets: list[Ticket] = []
        for item in items:
            ticket = to_ticket(item, solved_at, extra)
            if ticket is not None and ticket.id not in seen:
                seen.add(ticket.id)
                tickets.append(ticket)
        if users is not None:
            users.keep_requesters(data, {c for t in tickets for c in t.contact_ids})
        log.debug("zendesk.export.page", source=source, changed=len(items),
                  closed=len(tickets), end=bool(data.get("end_of_stream")))
        if tickets or moved:
            yield TicketPage(tickets=tickets, cursor=state.dumps())
        following = data.get("after_url")
        if data.get("end_of_stream") is True or not following or _too_recent(data):
            return
        data = call(ENDPOINT, partial(get_json, tickets_api, str(following)))


def _too_recent(data: Mapping[str, Any]) -> bool:
    """zenpy's own stop before a next page: an `end_time` less than 5 minutes ago (the
    time-based export's; the cursor export sends none)."""
    end_time = data.get("end_time")
    if not end_time or not isinstance(end_time, int | str):
        return False
    return datetime.fromtimestamp(int(end_time)) + timedelta(minutes=5) > datetime.now()
