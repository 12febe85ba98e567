"""Paging closed tickets out of HubSpot's CRM search, past its 10,000-results cap.

The search pages by offset (`after`) and refuses to go past 10,000 results per query, so a
long backlog is read as a chain of queries: when the next page would cross the cap, the
query restarts from the last closed_date seen (GTE) and the tickets already yielded at that
instant are skipped by id.

Offset paging over a live index is not a snapshot: a ticket that closes late with an earlier
closed_date shifts later results by one (read twice, skipped by id); a ticket reopened while
we page shifts them back (one may be missed until the next poll's overlap re-reads it, if it
closed within the overlap).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from closedloop.integration._values import picked
from closedloop.integration.base import Ticket, TicketPage
from closedloop.integration.errors import ClosedLoopError, RecordRejected, TransientError
from closedloop.integration.hubspot._cursor import SearchCursor

log = structlog.get_logger(__name__)

SEARCH_RESULT_CAP = 10_000
ASSOCIATION_BATCH: Final = 1000  # associations v4 batch read limit (notes, erase use it too)
TICKET_PROPERTIES = (
    "subject", "closed_date", "hs_pipeline", "hs_pipeline_stage",
    "hubspot_owner_id", "hubspot_team_id", "hs_lastmodifieddate",
)

SearchFn = Callable[[int, str | None], Any]  # (closed_date GTE ms, after) -> page's JSON
ContactsOf = Callable[[Sequence[str]], dict[str, tuple[str, ...]]]


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def parse_hubspot_time(value: str) -> datetime:
    """A HubSpot datetime property (ISO 8601, or epoch ms in older portals) as aware UTC."""
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def field_of(obj: Any, name: str) -> Any:
    """`name` of a JSON object (a dict), or the attribute of an SDK model of it."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _ticket(result: Any, extra: Sequence[str] = ()) -> Ticket | None:
    """A Ticket from one search or batch-read result, as HubSpot's JSON has it ({"id",
    "properties"}) or as the SDK models it; `extra` properties land in Ticket.properties."""
    props: dict[str, Any] = field_of(result, "properties") or {}
    closed = props.get("closed_date")
    if not closed:
        return None  # index lag on a just-closed ticket: the overlap picks it up next time
    return Ticket(
        id=str(field_of(result, "id")),
        closed_at=parse_hubspot_time(str(closed)),
        subject=str(props.get("subject") or ""),
        pipeline=props.get("hs_pipeline") or None,
        stage=props.get("hs_pipeline_stage") or None,
        owner_id=props.get("hubspot_owner_id") or None,
        team_id=props.get("hubspot_team_id") or None,
        properties=picked(props, extra),
    )


def next_after(page: Any) -> str | None:
    """The `paging.next.after` token of a page (JSON or SDK model), if any."""
    paging = field_of(page, "paging")
    nxt = field_of(paging, "next") if paging else None
    after = field_of(nxt, "after") if nxt else None
    return str(after) if after else None


def closed_ticket_pages(*, search: SearchFn, contacts_of: ContactsOf, cursor: SearchCursor,
                        query_from_ms: int, page_size: int, overlap_ms: int,
                        extra: Sequence[str] = ()) -> Iterator[TicketPage]:
    """Yield one TicketPage per search page, each carrying the cursor to persist after it.

    Never yields a ticket twice in one call, nor one the incoming cursor already yielded.
    `extra`: the property names the search asked for beyond TICKET_PROPERTIES.
    """
    seen: dict[str, int] = {}  # id -> closed ms, of the tickets yielded by this call
    while True:
        restart_from = yield from _one_query(search, contacts_of, cursor,
                                             query_from_ms=query_from_ms, page_size=page_size,
                                             overlap_ms=overlap_ms, seen=seen, extra=extra)
        if restart_from is None:
            return
        if restart_from <= query_from_ms:
            # More than 10,000 tickets share one closed_date: no GTE restart can get past them.
            raise RecordRejected(
                f"more than {SEARCH_RESULT_CAP} tickets closed at the same instant "
                f"({restart_from} ms); HubSpot search cannot page past them")
        log.info("hubspot.search.restart", from_ms=restart_from, reason="10000 results cap")
        query_from_ms = restart_from
        # The next query reads from restart_from on: only those ids can come again (the
        # set stays one query's worth, not the whole backlog's).
        seen = {tid: ms for tid, ms in seen.items() if ms >= restart_from}


def _one_query(search: SearchFn, contacts_of: ContactsOf, cursor: SearchCursor, *,
               query_from_ms: int, page_size: int, overlap_ms: int,
               seen: dict[str, int],
               extra: Sequence[str]) -> Generator[TicketPage, None, int | None]:
    """Page one query to its end (returns None) or to the cap (returns the restart ms)."""
    after: str | None = None
    tokens: set[str] = set()
    read = 0
    last_ms = query_from_ms
    while True:
        page = search(query_from_ms, after)
        results = list(field_of(page, "results") or [])
        fresh: list[Ticket] = []
        for result in results:
            ticket = _ticket(result, extra)
            if ticket is None:
                continue
            closed_ms = to_ms(ticket.closed_at)
            last_ms = max(last_ms, closed_ms)
            if ticket.id in seen or cursor.yielded(ticket.id, closed_ms):
                continue
            seen[ticket.id] = closed_ms
            fresh.append(ticket)
        if fresh:
            links = contacts_of([t.id for t in fresh])
            fresh = [replace(t, contact_ids=links.get(t.id, ())) for t in fresh]
            for ticket in fresh:
                cursor.advance(ticket.id, to_ms(ticket.closed_at), overlap_ms)
        if results:
            log.debug("hubspot.search.page", results=len(results), new=len(fresh))
            yield TicketPage(tickets=fresh, cursor=cursor.dumps())
        read += len(results)
        after_next = next_after(page)
        if after_next is None or not results:
            return None
        if after_next in tokens:
            raise TransientError(f"HubSpot search repeated the page token {after_next!r}")
        tokens.add(after_next)
        offset = int(after_next) if after_next.isdigit() else read
        if offset + page_size > SEARCH_RESULT_CAP:
            return last_ms
        after = after_next



def ticket_contacts(call_json: Callable[[str, dict[str, Any]], Any],
                    ticket_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Contact ids per ticket (associations v4 batch read, ASSOCIATION_BATCH a call),
    following each ticket's own paging; a page token seen twice is an error, not a loop."""
    found: dict[str, list[str]] = {tid: [] for tid in ticket_ids}
    pending: list[tuple[str, str | None]] = [(tid, None) for tid in ticket_ids]
    tokens: set[tuple[str, str]] = set()
    while pending:
        chunk, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
        body = {"inputs": [{"id": tid} if after is None else {"id": tid, "after": after}
                           for tid, after in chunk]}
        answer = call_json("ticket_contacts", body)
        for row in answer.get("results") or []:
            ticket_id = str(row["from"]["id"])
            found.setdefault(ticket_id, []).extend(str(to["toObjectId"])
                                                   for to in row.get("to") or [])
            nxt = next_after(row)
            if nxt:
                if (ticket_id, str(nxt)) in tokens:
                    raise ClosedLoopError(
                        f"HubSpot associations repeated page token for ticket {ticket_id}")
                tokens.add((ticket_id, str(nxt)))
                pending.append((ticket_id, str(nxt)))
    return {tid: tuple(dict.fromkeys(ids)) for tid, ids in found.items()}
