"""Zendesk's reads by id as plain JSON give the records zenpy's objects gave.

show_many (the intake's notified tickets, the reopen checks, attribution, the follow-ups'
originals, users) and the incremental export (the poll) skip zenpy's object building
(integration/zendesk/_raw.py, _tickets.closed_ticket_pages).
Each test reads the same sandbox records both ways, through zenpy's objects and `to_dict()`
as the adapter did before, and through the adapter now, and pins that they are equal, edge
values included: non-ASCII text, no requester, solved and closed (metric set solved_at),
open and deleted tickets, a custom field set and one left null, unknown ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from closedloop.integration.base import TicketPage
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._cursor import ExportCursor
from closedloop.integration.zendesk._jobs import _as_dict, _poll
from closedloop.integration.zendesk._notified import closed_tickets_by_id
from closedloop.integration.zendesk._paging import next_page, page_items, page_json
from closedloop.integration.zendesk._tickets import (
    ENDPOINT,
    SIDELOADS,
    closed_ticket_pages,
    solved_times,
    to_ticket,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FIELD = 360_000_777


def _records(state: ZendeskState) -> tuple[list[str], list[str]]:
    """Users and tickets with the values that could decode differently."""
    state.create_ticket_field(FIELD, "Store")
    users = [state.create_user("ann@example.com", "Ånn Ærø « spécial »", locale="nb",
                               time_zone="Europe/Oslo", phone="+4712345678"),
             state.create_user(None, "No Address", locale="fr-CA"),
             state.create_user("cy@example.com", "Cy", tags=["vip", "b2b"])]
    tickets = [
        state.create_ticket("Café — ünïcode", users[0], status="solved",
                            created_at=NOW - timedelta(hours=5), custom_fields={FIELD: "oslo"},
                            group_id=None, tags=["a", "b"]),
        state.create_ticket("", None, status="solved", created_at=NOW - timedelta(hours=4)),
        state.create_ticket("closed later", users[1], created_at=NOW - timedelta(hours=3)),
        state.create_ticket("still open", users[2], created_at=NOW - timedelta(hours=2)),
        state.create_ticket("deleted", users[2], status="solved",
                            created_at=NOW - timedelta(hours=1)),
    ]
    state.close_ticket(tickets[2], NOW - timedelta(minutes=30))
    state.delete_ticket(tickets[4], NOW - timedelta(minutes=10))
    return users, tickets


def _without_nulls(value: Any) -> Any:
    """zenpy's objects (nested ones too) carry every attribute of their class (None when
    the JSON had none); the JSON names only what it has: the values that exist must be the
    same."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _json_names(value: Any) -> Any:
    """zenpy renames the key "from" (a Python keyword) "from_" in nested objects (a
    ticket's via.source); Zendesk's JSON, and now the adapter, say "from". No reader of
    these records looks at it."""
    if isinstance(value, dict):
        return {("from" if k == "from_" else k): _json_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_names(v) for v in value]
    return value


def test_notified_tickets_are_the_records_zenpys_objects_gave(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """closed_tickets_by_id: the same Ticket records (custom field read, solved_at from the
    metric set, open and deleted left out) as zenpy's objects turned into dicts, in one call."""
    _, tickets = _records(zd_state)
    ids = [*tickets, "99999"]
    api = zd_adapter._zd.tickets
    gen = api(ids=ids, include=SIDELOADS)
    solved_at = solved_times(page_json(gen))
    before = [t for t in (to_ticket(item.to_dict(), solved_at, (str(FIELD),))
                          for item in page_items(gen)) if t is not None]
    zd_sandbox.reset_calls()
    now = closed_tickets_by_id(zd_adapter._call, zd_adapter._raw, ids, (str(FIELD),))
    assert (now, zd_sandbox.calls_snapshot()) == (
        before, {"GET /api/v2/tickets/show_many.json": 1})
    assert sorted(t.id for t in now) == sorted(tickets[:3])


def test_show_many_records_are_zenpys_dicts(zd_adapter: ZendeskAdapter,
                                            zd_state: ZendeskState) -> None:
    """The adapter's show_many reads (tickets and users, unknown ids asked too): every
    record zenpy's objects gave, with the same values."""
    users, tickets = _records(zd_state)
    for api, ids in ((zd_adapter._zd.tickets, [*tickets, "99999"]),
                     (zd_adapter._zd.users, [*users, "88888"])):
        before = [_without_nulls(_json_names(item.to_dict()))
                  for item in page_items(api(ids=ids))]
        now = [_without_nulls(r) for r in zd_adapter._show_many(
            f"{api.object_type}s_show_many", ids)]
        assert now == before
        assert len(now) == len(ids) - 1 - (1 if api is zd_adapter._zd.tickets else 0)


def _zenpy_export(zd: ZendeskAdapter, start: ExportCursor) -> list[TicketPage]:
    """The export as the adapter read it through zenpy's generator (before raw pages)."""
    api = zd._zd.tickets
    if start.cursor is not None:
        gen = zd._call(ENDPOINT, partial(api.incremental, cursor=quote(start.cursor, safe=""),
                                         include=SIDELOADS))
    else:
        gen = zd._call(ENDPOINT, partial(api.incremental, start_time=start.start,
                                         include=SIDELOADS, per_page=10))
    out: list[TicketPage] = []
    seen: set[str] = set()
    state = start
    while True:
        data = page_json(gen)
        after = data.get("after_cursor")
        moved = bool(after) and str(after) != state.cursor
        if after:
            state = ExportCursor(cursor=str(after))
        solved_at = solved_times(data)
        tickets = []
        for item in page_items(gen):
            ticket = to_ticket(item.to_dict(), solved_at, (str(FIELD),))
            if ticket is not None and ticket.id not in seen:
                seen.add(ticket.id)
                tickets.append(ticket)
        if tickets or moved:
            out.append(TicketPage(tickets=tickets, cursor=state.dumps()))
        if data.get("end_of_stream") is True or not data.get("after_url"):
            return out
        if not next_page(zd._call, ENDPOINT, gen):
            return out


def test_export_pages_are_the_pages_zenpys_generator_gave(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """The incremental export over three pages of 10 (solved, closed, open, deleted, a
    custom field) from a start time: the same TicketPages (tickets and cursors) as through
    zenpy's generator, in as many requests. From a stored cursor: the same tickets, now in
    pages of 10 too (zenpy could not pass per_page with a cursor: one page of 1,000)."""
    _records(zd_state)
    for n in range(20):
        zd_state.create_ticket(f"bulk {n}", None, status="solved" if n % 3 else "open",
                               created_at=NOW - timedelta(minutes=50 - n))
    begin = ExportCursor(start=int((NOW - timedelta(days=1)).timestamp()))
    zd_sandbox.reset_calls()
    before = _zenpy_export(zd_adapter, begin)
    zenpy_calls = zd_sandbox.calls_snapshot()
    zd_sandbox.reset_calls()
    now = list(closed_ticket_pages(zd_adapter._call, zd_adapter._raw, begin,
                                   page_size=10, source="zendesk", extra=(str(FIELD),)))
    assert (now, zd_sandbox.calls_snapshot()) == (before, zenpy_calls)
    assert len(now) >= 3

    resumed = ExportCursor.loads(now[0].cursor)
    zenpy_resumed = _zenpy_export(zd_adapter, resumed)
    zd_sandbox.reset_calls()
    again = list(closed_ticket_pages(zd_adapter._call, zd_adapter._raw, resumed,
                                     page_size=10, source="zendesk", extra=(str(FIELD),)))
    assert [t for p in again for t in p.tickets] == [t for p in zenpy_resumed
                                                     for t in p.tickets]
    assert [t for p in again for t in p.tickets] == [t for p in now[1:] for t in p.tickets]
    assert zd_sandbox.calls_snapshot() == {
        "GET /api/v2/incremental/tickets/cursor.json": len(again)}


def test_job_statuses_are_the_ones_zenpys_objects_gave(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """A finished update_many job with a refused item, and an expired job id asked too:
    the statuses read as JSON (results, messages) equal zenpy's objects' dicts."""
    users, _ = _records(zd_state)
    done = zd_sandbox.jobs.submit([
        {"id": int(users[0]), "success": True, "status": "Updated"},
        {"id": 999, "success": False, "error": "RecordNotFound", "details": "not found"}],
        zd_sandbox.url)["id"]
    ids = [done, "expired0000"]
    zd_adapter._zd.job_status(ids=ids)  # the sandbox answers "working" once first
    answer = zd_adapter._zd.job_status(ids=ids)  # as _poll read it before
    zenpy = answer.get("job_statuses") if isinstance(answer, Mapping) else answer
    before = {str(s["id"]): _without_nulls(_json_names(s))
              for s in (_as_dict(item) for item in zenpy or [])}
    now = {k: _without_nulls(v)
           for k, v in _poll(zd_adapter._call, zd_adapter._job_statuses, ids).items()}
    assert now == before
    assert (list(now), now[done]["status"], len(now[done]["results"])) == ([done], "completed", 2)


def test_reopen_check_and_attribution_read_the_same_json(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState) -> None:
    """reopened(): the open, the deleted and the unknown ticket; attribution (assignee,
    group, closed) from the same show_many JSON."""
    _, tickets = _records(zd_state)
    assert zd_adapter.reopened([*tickets, "99999"]) == {tickets[3], tickets[4], "99999"}
    gone, who = zd_adapter.reopened_with_attribution(tickets[:3], tickets[:3])
    assert (gone, sorted(who)) == (set(), sorted(tickets[:3]))
    assert (who[tickets[2]].closed, who[tickets[0]].closed) == (True, False)
