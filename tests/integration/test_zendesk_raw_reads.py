"""Zendesk's reads by id as plain JSON give the records zenpy's objects gave.

show_many (the intake's notified tickets, the reopen checks, attribution, the follow-ups'
originals, users) skips zenpy's object building (integration/zendesk/_paging.raw_pages).
Each test reads the same sandbox records both ways, through zenpy's objects and `to_dict()`
as the adapter did before, and through the adapter now, and pins that they are equal, edge
values included: non-ASCII text, no requester, solved and closed (metric set solved_at),
open and deleted tickets, a custom field set and one left null, unknown ids.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.integration.zendesk._notified import closed_tickets_by_id
from closedloop.integration.zendesk._paging import page_items, page_json
from closedloop.integration.zendesk._tickets import SIDELOADS, solved_times, to_ticket

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


def _without_nulls(record: dict[str, Any]) -> dict[str, Any]:
    """zenpy's objects carry every attribute of their class (None when the JSON had none);
    the JSON names only what it has: the values that exist must be the same."""
    return {k: v for k, v in record.items() if v is not None}


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
    now = closed_tickets_by_id(zd_adapter._call, api, ids, (str(FIELD),))
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
            f"{api.object_type}s_show_many", api, ids)]
        assert now == before
        assert len(now) == len(ids) - 1 - (1 if api is zd_adapter._zd.tickets else 0)
