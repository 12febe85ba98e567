"""In-process behaviour of the sandbox portal's state (seeding and the admin helpers)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.sandbox.hubspot import HubSpotState

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_seeded_is_deterministic() -> None:
    """Same (tickets, contacts, seed, now) gives the same portal, so fixtures are stable."""
    a = HubSpotState.seeded(tickets=30, contacts=20, seed=7, now=NOW)
    b = HubSpotState.seeded(tickets=30, contacts=20, seed=7, now=NOW)
    assert [a.ticket(t) for t in a.tickets] == [b.ticket(t) for t in b.tickets]
    assert [a.contact(c) for c in a.contacts] == [b.contact(c) for c in b.contacts]
    assert a.ticket_contacts == b.ticket_contacts


def test_seeded_ten_thousand_tickets() -> None:
    """The benchmark's account size seeds whole (bench/loop.py prints how long it takes)."""
    state = HubSpotState.seeded(tickets=10_000, contacts=2_000, seed=1, now=NOW)
    assert len(state.tickets) == 10_000
    assert len(state.contacts) == 2_000


def test_seeded_data_is_realistic() -> None:
    """~80 % closed (closed stage + closed_date in the past), several languages, some
    contacts without email, tickets with 0, 1 and 2 contacts, owners and teams set."""
    state = HubSpotState.seeded(tickets=1000, contacts=400, seed=3, now=NOW)
    closed = [r for r in state.tickets.values() if r.props["closed_date"] is not None]
    assert 0.75 < len(closed) / 1000 < 0.85
    for rec in state.tickets.values():
        is_closed_stage = state.stages[rec.props["hs_pipeline_stage"] or ""][1] == "CLOSED"
        assert is_closed_stage == (rec.props["closed_date"] is not None)
        assert rec.props["hubspot_owner_id"] is not None
        assert rec.props["hubspot_team_id"] is not None
    newest = max(datetime.fromisoformat(r.props["closed_date"] or "") for r in closed)
    assert newest <= NOW
    languages = {r.props["hs_language"] for r in state.contacts.values()}
    assert {"en", "fr", "nb", "de", "es"} == languages
    assert any(r.props["email"] is None for r in state.contacts.values())
    sizes = Counter(len(state.ticket_contacts.get(t, [])) for t in state.tickets)
    assert {0, 1, 2} == set(sizes)
    assert sizes[1] > 900


def test_create_and_close_ticket() -> None:
    """close_ticket moves to the pipeline's closed stage and stamps closed_date (ISO, ms, Z)."""
    state = HubSpotState()
    cid = state.create_contact("ana@example.es", "Ana", "López", "es")
    tid = state.create_ticket("Refund", cid, pipeline="5")
    assert state.ticket(tid)["properties"]["hs_pipeline_stage"] == "6"
    assert state.ticket(tid)["properties"]["closed_date"] is None
    closed = state.close_ticket(tid, at=datetime(2026, 11, 20, 10, 15, tzinfo=UTC))
    assert closed["properties"]["hs_pipeline_stage"] == "7"
    assert closed["properties"]["closed_date"] == "2026-11-20T10:15:00.000Z"
    assert [cid] == state.ticket_contacts[tid]
    assert state.contact(cid)["properties"]["email"] == "ana@example.es"
    assert state.contact(cid)["properties"]["lastmodifieddate"] is not None


def test_create_ticket_closed_at_sets_closed_stage() -> None:
    """A ticket created with closed_at is already closed and was created before it closed."""
    state = HubSpotState()
    at = NOW - timedelta(days=1)
    tid = state.create_ticket("x", None, closed_at=at, owner_id="71000001", team_id="4100001")
    props = state.ticket(tid)["properties"]
    assert (props["hs_pipeline_stage"], props["closed_date"]) == ("4", "2026-11-19T12:00:00.000Z")
    assert props["createdate"] < props["closed_date"]
    assert tid not in state.ticket_contacts


def test_unknown_ids_raise_key_error() -> None:
    """The in-process helpers fail loudly on unknown ids instead of inventing records."""
    state = HubSpotState()
    with pytest.raises(KeyError):
        state.contact("404")
    with pytest.raises(KeyError):
        state.close_ticket("404")
