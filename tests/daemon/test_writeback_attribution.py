"""Write-back: ticket properties on HubSpot and the attribution at rating time, both CRMs.

Real store (SQLite and PostgreSQL), real adapters (hubspot-api-client, zenpy) over HTTP to
the sandbox CRMs on 127.0.0.1; the clock is passed in, as the scheduler would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.jobs.writeback import write_back
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.answers import HOOK_SETTLE
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter
from closedloop.mappings import CrmMapping, load_mapping

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SETTLED = T0 + timedelta(minutes=2) + HOOK_SETTLE
TOKEN = "wb-token"
TICKETS_READ = "POST /crm/v3/objects/tickets/batch/read"
TICKETS_UPDATE = "POST /crm/v3/objects/tickets/batch/update"
NOTES = "POST /crm/v3/objects/notes/batch/create"
SHOW_MANY = "GET /api/v2/tickets/show_many.json"
PROGRAMS = [Program(name="support-csat", type=SurveyType.CSAT, source="hubspot",
                    delay=timedelta(0), company="Acme")]

Hub = tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]


def _policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=1, max_delay=1.0, base=0.01, cap=0.01, sleep=lambda s: None)


@pytest.fixture
def hubspot() -> Iterator[Hub]:
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0, port=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, retry=_policy(),
                                 timeout=(2, 5))
        mapping = load_mapping("hubspot", programs=PROGRAMS)
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        sandbox.reset_calls()
        yield state, sandbox, adapter, mapping


def _sent(store: Store, source: str, key: str, contact: str, ticket: str,
          owner: str | None, team: str | None) -> int:
    """A CSAT survey about `ticket`, sent at T0; the poll saw `owner`/`team` at close."""
    store.add_sends([NewSend(idem_key=key, program="support-csat", survey_type="csat",
                             source=source, contact_id=contact, due_at=T0, created_at=T0,
                             ticket_id=ticket, email=f"{key}@example.com", owner_id=owner,
                             team_id=team)])
    [send] = store.claim_due_sends(T0, 1, timedelta(minutes=5))
    assert store.begin_sending(send.id, T0)
    store.mark_sent(send.id, T0, f"<{key}@x>")
    return send.id


def _hub_ticket(state: HubSpotState, n: int, owner: str = "101") -> tuple[str, str]:
    contact = state.create_contact(f"p{n}@example.com", "P", f"{n}")
    ticket = state.create_ticket(f"T{n}", contact, closed_at=T0 - timedelta(hours=1),
                                 owner_id=owner, team_id="7")
    return contact, ticket


def test_hubspot_ticket_gets_the_answer_and_the_owner_at_answer_is_stored(
        store: Store, hubspot: Hub) -> None:
    """Closed by owner 101 (team 7), handed to 202 (team 8) before the answer: the response
    keeps 101/7 at close and 202/8 at answer; the ticket gets score, category, comment and
    answer time in the cycle that adds its note; one read, one update, one note call."""
    state, sandbox, adapter, mapping = hubspot
    contact, ticket = _hub_ticket(state, 1)
    send = _sent(store, "hubspot", "a", contact, ticket, "101", "7")
    state.assign_ticket(ticket, "202", "8")
    store.record_response(send, 2, "unsatisfied", T0 + timedelta(minutes=1))
    store.record_comment(send, "Slow refund", T0 + timedelta(minutes=2))

    result = write_back(store, adapter, mapping, SETTLED)

    assert (result.contacts, result.tickets, result.attributed) == (1, 1, 1)
    props = state.ticket(ticket)["properties"]
    assert {k: props[k] for k in mapping.ticket_property_names() if props.get(k)} == {
        "cl_csat_rating": "2", "cl_csat_category": "unsatisfied",
        "cl_csat_comment": "Slow refund", "cl_csat_answered_at": "2026-11-20T09:01:00.000Z"}
    assert len(state.notes(ticket_id=ticket)) == 1
    got = store.attributed_response(send)
    assert got is not None
    assert (got.owner_id_at_close, got.team_id_at_close, got.owner_id_at_answer,
            got.team_id_at_answer, got.attributed) == ("101", "7", "202", "8", True)
    assert (sandbox.calls[TICKETS_READ], sandbox.calls[TICKETS_UPDATE],
            sandbox.calls[NOTES]) == (1, 1, 1)


def test_attribution_is_read_once_when_the_hook_write_is_retried(store: Store,
                                                                 hubspot: Hub) -> None:
    """A 503 on the notes call defers the hook; the retry writes it without reading the
    ticket's owner again, and a later reassignment changes nothing stored."""
    state, sandbox, adapter, mapping = hubspot
    contact, ticket = _hub_ticket(state, 2)
    send = _sent(store, "hubspot", "b", contact, ticket, "101", "7")
    store.record_response(send, 5, "satisfied", T0 + timedelta(minutes=2))
    sandbox.fail_next(1, 503, path_prefix="/crm/v3/objects/notes")

    first = write_back(store, adapter, mapping, SETTLED)
    assert (first.attributed, first.deferred, sandbox.calls[TICKETS_READ]) == (1, 1, 1)
    state.assign_ticket(ticket, "303", "9")
    second = write_back(store, adapter, mapping, SETTLED + timedelta(hours=1))

    assert (second.attributed, second.tickets, sandbox.calls[TICKETS_READ]) == (0, 1, 1)
    got = store.attributed_response(send)
    assert got is not None
    assert (got.owner_id_at_answer, got.team_id_at_answer) == ("101", "7")


def test_a_failed_attribution_read_defers_the_hook_and_a_deleted_ticket_is_nobody(
        store: Store, hubspot: Hub) -> None:
    """A 503 on the tickets read defers the hook rows (nothing on the ticket, not yet
    attributed); after the ticket is deleted the next run stores nobody (None, None) as
    read, and the hook is refused as HubSpot refuses writes to a deleted ticket."""
    state, sandbox, adapter, mapping = hubspot
    contact, ticket = _hub_ticket(state, 3)
    send = _sent(store, "hubspot", "c", contact, ticket, "101", "7")
    store.record_response(send, 1, "unsatisfied", T0 + timedelta(minutes=2))
    sandbox.fail_next(1, 503, path_prefix="/crm/v3/objects/tickets/batch/read")

    first = write_back(store, adapter, mapping, SETTLED)
    assert (first.attributed, first.deferred, first.tickets) == (0, 1, 0)
    got = store.attributed_response(send)
    assert got is not None
    assert got.attributed is False
    assert sandbox.calls[TICKETS_UPDATE] == 0

    state.delete_ticket(ticket)
    second = write_back(store, adapter, mapping, SETTLED + timedelta(hours=1))
    assert (second.attributed, second.rejected) == (1, 1)
    got = store.attributed_response(send)
    assert got is not None
    assert (got.attributed, got.owner_id_at_answer, got.team_id_at_answer) == (True, None, None)


def test_150_hubspot_answers_cost_two_reads_and_two_ticket_updates(store: Store,
                                                                   hubspot: Hub) -> None:
    """150 answers about 150 tickets: the attribution is 2 tickets batch reads (100 + 50)
    and the ticket properties 2 tickets batch updates, in the cycle of the notes."""
    state, sandbox, adapter, mapping = hubspot
    sends = []
    for n in range(150):
        contact, ticket = _hub_ticket(state, 100 + n)
        sends.append(_sent(store, "hubspot", f"m{n}", contact, ticket, "101", "7"))
    for send in sends:
        store.record_response(send, 4, "satisfied", T0 + timedelta(minutes=2))

    result = write_back(store, adapter, mapping, SETTLED)

    assert (result.tickets, result.attributed) == (150, 150)
    assert (sandbox.calls[TICKETS_READ], sandbox.calls[TICKETS_UPDATE]) == (2, 2)


def test_zendesk_attribution_reads_assignee_and_group_with_show_many(store: Store) -> None:
    """Zendesk: solved by agent A in group G1, reassigned to B in G2 before the answer: the
    response keeps both; 150 answers read their tickets in 2 show_many calls."""
    state = ZendeskState()
    with ZendeskSandbox(state, rate_limit_per_minute=0, incremental_per_minute=0,
                        search_export_per_minute=0, port=0) as sandbox, \
            ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                           token=sandbox.token, base_url=sandbox.url, retry=_policy(),
                           timeout=(2, 5), job_poll_interval=0.05, job_timeout=5.0) as adapter:
        mapping = load_mapping("zendesk")
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        first_group, second_group = state.create_group("Tier 1"), state.create_group("Tier 2")
        agent_a = str(state.ensure_agent("a@agents.example"))
        agent_b = str(state.ensure_agent("b@agents.example"))
        sends = []
        tickets = []
        for n in range(150):
            user = state.create_user(f"z{n}@example.com", f"Zoe {n}")
            ticket = state.create_ticket(f"Z{n}", user, group_id=first_group)
            state.assign_ticket(ticket, agent_a, first_group)
            state.solve_ticket(ticket, at=T0 - timedelta(hours=1))
            sends.append(_sent(store, "zendesk", f"z{n}", user, ticket, agent_a, first_group))
            tickets.append(ticket)
        state.assign_ticket(tickets[0], agent_b, second_group)
        for send in sends:
            store.record_response(send, 1, "unsatisfied", T0 + timedelta(minutes=2))
        sandbox.reset_calls()

        result = write_back(store, adapter, mapping, SETTLED)

        assert (result.attributed, result.tickets) == (150, 150)
        assert sandbox.calls[SHOW_MANY] == 2
        moved, stayed = store.attributed_response(sends[0]), store.attributed_response(sends[1])
        assert moved is not None
        assert stayed is not None
        assert (moved.owner_id_at_close, moved.team_id_at_close, moved.owner_id_at_answer,
                moved.team_id_at_answer) == (agent_a, first_group, agent_b, second_group)
        assert (stayed.owner_id_at_answer, stayed.team_id_at_answer) == (agent_a, first_group)
