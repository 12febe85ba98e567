"""ticket_attribution and ticket property writes with the real clients against the sandboxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from closedloop.integration.base import Attribution, TicketUpdate
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ZendeskAdapter

CLOSED = datetime.now(UTC) - timedelta(hours=1)


def test_hubspot_attribution_is_owner_and_team_now_100_per_call(
        with_properties: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """hubspot-api-client tickets batch read: 101 tickets (one reassigned, one deleted, one
    unassigned) cost 2 calls; the deleted one is left out, the unassigned one is nobody."""
    contact = state.create_contact("a@example.com", "A", "B")
    ids = [state.create_ticket(f"t{i}", contact, closed_at=CLOSED, owner_id="101",
                               team_id="7") for i in range(101)]
    state.assign_ticket(ids[0], "202", "8")
    state.assign_ticket(ids[1], None, None)
    state.delete_ticket(ids[2])
    sandbox.reset_calls()

    found = with_properties.ticket_attribution(ids)

    assert sandbox.calls["POST /crm/v3/objects/tickets/batch/read"] == 2
    assert (found[ids[0]], found[ids[1]], found[ids[3]]) == (
        Attribution("202", "8"), Attribution(None, None), Attribution("101", "7"))
    assert ids[2] not in found
    assert len(found) == 100


def test_hubspot_ticket_properties_land_and_a_deleted_ticket_is_refused_alone(
        with_properties: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """Tickets batch update (207 for the deleted ticket): the live one gets its values and
    its note; the deleted one is rejected with HubSpot's reason and gets no note."""
    contact = state.create_contact("a@example.com", "A", "B")
    live = state.create_ticket("live", contact, closed_at=CLOSED)
    gone = state.create_ticket("gone", contact, closed_at=CLOSED)
    state.delete_ticket(gone)
    props = {"cl_csat_rating": "2", "cl_csat_category": "unsatisfied", "cl_csat_comment": ""}

    result = with_properties.update_tickets([
        TicketUpdate(live, note="CSAT 2", properties=props),
        TicketUpdate(gone, note="CSAT 2", properties=props)])

    assert result.written == [live]
    assert list(result.rejected) == [gone]
    assert result.rejected[gone].startswith("OBJECT_NOT_FOUND")
    values = state.ticket(live)["properties"]
    assert (values["cl_csat_rating"], values["cl_csat_category"], values["cl_csat_comment"]) == (
        "2", "unsatisfied", None)
    assert len(state.notes(ticket_id=live)) == 1
    assert sandbox.calls["POST /crm/v3/objects/tickets/batch/update"] == 1


def test_hubspot_check_online_counts_missing_ticket_properties(
        adapter: HubSpotAdapter) -> None:
    """Before setup, the ticket properties are listed apart from the contact ones."""
    check = adapter.check_online(HubSpotAdapter.required_scopes, [], ["cl_csat_rating"])
    assert (check.ok, check.missing_properties, check.missing_ticket_properties) == (
        False, [], ["cl_csat_rating"])


def test_zendesk_attribution_is_assignee_and_group_by_show_many(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """zenpy show_many: assignee and group now, and whether it is closed (a follow-up links
    only a closed original); an unknown id is left out."""
    user = zd_state.create_user("z@example.com", "Zoe")
    group = zd_state.create_group("Tier 2")
    agent = str(zd_state.ensure_agent("agent@example.com"))
    ticket = zd_state.create_ticket("t", user)
    zd_state.solve_ticket(ticket, at=CLOSED)
    zd_state.assign_ticket(ticket, agent, group)
    bare = zd_state.create_ticket("u", user)
    shut = zd_state.create_ticket("v", user, status="solved")
    zd_state.close_ticket(shut)

    found = zd_adapter.ticket_attribution([ticket, bare, shut, "999999"])

    assert found == {ticket: Attribution(agent, group, closed=False),
                     bare: Attribution(None, None, closed=False),
                     shut: Attribution(None, None, closed=True)}


def test_hubspot_notes_still_land_when_ticket_properties_were_never_set_up(
        adapter: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """An upgrade without `closedloop setup`: HubSpot refuses the properties call whole
    (400, PROPERTY_DOESNT_EXIST); the note is still created and the ticket counts written."""
    contact = state.create_contact("a@example.com", "A", "B")
    ticket = state.create_ticket("t", contact, closed_at=CLOSED)

    result = adapter.update_tickets([TicketUpdate(ticket, note="CSAT 2",
                                                  properties={"cl_csat_rating": "2"})])

    assert (result.written, result.rejected) == ([ticket], {})
    assert len(state.notes(ticket_id=ticket)) == 1
    assert sandbox.calls["POST /crm/v3/objects/tickets/batch/update"] == 1
    assert "cl_csat_rating" not in state.ticket(ticket)["properties"]
