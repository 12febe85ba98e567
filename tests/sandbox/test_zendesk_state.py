"""The Zendesk sandbox's account model: seeding, ticket lifecycle, the change stream."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sandbox_support import ZD_NOW, zd_http

from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.sandbox.zendesk.state import ClosedTicketError

EXPORT = "/api/v2/incremental/tickets/cursor.json"


def _snapshot(state: ZendeskState) -> str:
    """A digest of every object's JSON (a digest keeps a failure's diff short)."""
    everything = [*(state.user(str(u)) for u in sorted(state.users)),
                  *(state.ticket(str(t)) for t in sorted(state.tickets)),
                  *(o.to_json("") for o in state.organizations.values()),
                  *(g.to_json("") for g in state.groups.values()), state.user_fields()]
    return hashlib.sha256(json.dumps(everything, sort_keys=True).encode()).hexdigest()


def test_seed_is_deterministic_and_lived_in() -> None:
    """Same arguments, same account; it has people without e-mail, the five locales, IANA
    zones, organisations, and solved, closed and open tickets even when tiny."""
    one = ZendeskState.seeded(tickets=300, seed=5, now=ZD_NOW)
    with time_machine.travel(ZD_NOW + timedelta(days=1)):  # the wall clock must not matter
        assert _snapshot(one) == _snapshot(ZendeskState.seeded(tickets=300, seed=5,
                                                               now=ZD_NOW))
    assert _snapshot(one) != _snapshot(ZendeskState.seeded(tickets=300, seed=6, now=ZD_NOW))
    people = [u for u in one.users.values() if u.role == "end-user"]
    assert len(people) == 225
    assert any(u.email is None for u in people)
    assert {u.locale for u in people} == {"en-US", "fr", "nb", "de", "es"}
    assert all("/" in u.iana_time_zone for u in people)
    assert any(u.organization_id for u in people)
    assert any(u.tags for u in people)
    statuses = Counter(t.status for t in one.tickets.values())
    assert {"open", "solved", "closed", "deleted"} <= set(statuses)
    assert any(t.reopens for t in one.tickets.values())
    assert all(t.updated <= ZD_NOW for t in one.tickets.values())
    tiny = ZendeskState.seeded(tickets=3, now=ZD_NOW)
    assert sorted(t.status for t in tiny.tickets.values()) == ["closed", "open", "solved"]


def test_ticket_ids_and_change_order_follow_time() -> None:
    """Replaying histories in time order makes ids grow with creation time and the export's
    change order equal updated_at order."""
    state = ZendeskState.seeded(tickets=200, seed=2, now=ZD_NOW)
    by_id = [state.tickets[i].created for i in sorted(state.tickets)]
    assert by_id == sorted(by_id)
    by_seq = [t.updated for t in sorted(state.tickets.values(), key=lambda t: t.seq)]
    assert by_seq == sorted(by_seq)


def test_lifecycle_rules() -> None:
    """Solving stamps solved_at, reopening counts, closed is final, deleted is hidden
    from updates but kept for the export."""
    state = ZendeskState()
    uid = state.create_user("ada@example.com")
    tid = state.create_ticket("Help", uid, created_at=ZD_NOW)
    state.solve_ticket(tid, at=ZD_NOW + timedelta(hours=1))
    state.reopen_ticket(tid, at=ZD_NOW + timedelta(hours=2))
    state.solve_ticket(tid, at=ZD_NOW + timedelta(hours=3))
    ticket = state.tickets[int(tid)]
    assert (ticket.reopens, ticket.solved_at) == (1, ZD_NOW + timedelta(hours=3))
    state.close_ticket(tid, at=ZD_NOW + timedelta(days=4))
    with pytest.raises(ClosedTicketError):
        state.reopen_ticket(tid)
    with pytest.raises(ClosedTicketError):
        state.update_ticket(int(tid), {"additional_tags": ["x"]}, 1)
    other = state.create_ticket("Bye", uid)
    state.delete_ticket(other)
    assert state.ticket(other)["status"] == "deleted"
    with pytest.raises(KeyError):
        state.solve_ticket(other)
    assert state.comments(tid)[0] == {**state.comments(tid)[0], "body": "Help. Please help.",
                                      "public": True, "author_id": int(uid)}
    assert state.ticket(tid)["organization_id"] is None


def test_big_accounts_export_in_pages_of_a_thousand() -> None:
    """A benchmark-sized account: 3,000 seeded tickets come out in three full pages.
    (Speed is the benchmark's business, not a unit test's.)"""
    state = ZendeskState.seeded(tickets=3_000, seed=1, now=ZD_NOW)
    with ZendeskSandbox(state, incremental_per_minute=0) as sb:
        body = zd_http(sb, "GET", EXPORT, params={"start_time": 0}).json()
        seen = len(body["tickets"])
        while not body["end_of_stream"]:
            body = zd_http(sb, "GET", body["after_url"].removeprefix(sb.url)).json()
            seen += len(body["tickets"])
        assert seen == 3_000
        assert sb.calls[f"GET {EXPORT}"] == 3
