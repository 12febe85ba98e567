"""The hot HubSpot reads as plain JSON give the records the SDK's models gave.

Ticket search, tickets batch read, contacts batch read and the ticket-contact associations
skip hubspot-api-client's model decoding (integration/hubspot/_raw.py). Each test reads the
same sandbox records both ways, through the SDK's own API objects and decoding as the adapter
did before, and through the adapter, and pins that the records are equal, edge values
included: empty and missing properties, non-ASCII text, epoch-ms dates, "123.0" company ids,
an unknown time zone, several contacts per ticket, open and deleted tickets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId as ContactsRead
from hubspot.crm.contacts import SimplePublicObjectId as ContactId
from hubspot.crm.tickets import BatchReadInputSimplePublicObjectId as TicketsRead
from hubspot.crm.tickets import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.tickets import SimplePublicObjectId as TicketId

from closedloop.integration.base import TicketUpdate
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.hubspot._contacts import CONTACT_PROPERTIES, to_contact
from closedloop.integration.hubspot._tickets import TICKET_PROPERTIES, _ticket
from closedloop.integration.sandbox.hubspot import HubSpotState

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # conftest.NOW: the adapter's start_at - 1 day


def _edge_records(state: HubSpotState) -> tuple[list[str], list[str]]:
    """Contacts and closed tickets with the values that could decode differently."""
    contacts = [
        state.create_contact("ann@example.com", "Ann", "Lee", "en", timezone="Europe/Oslo",
                             customer_since=NOW - timedelta(days=400), company_id="123"),
        state.create_contact(None, "Ørjan", "Ærø", None),  # no address, no language
        state.create_contact("bo@example.com", "", "", "fr-ca", timezone="Mars/Olympus",
                             company_id="77.0", created_at=NOW - timedelta(days=3)),
        state.create_contact("cy@example.com", "Cy", "Lo", "nb", region="north"),
    ]
    state.update_contact(contacts[3], {"createdate": "1700000000000"})  # epoch ms
    tickets = [
        state.create_ticket("Café « spécial » — ünïcode", contacts[0],
                            closed_at=NOW - timedelta(hours=5), owner_id="71", team_id="41"),
        state.create_ticket("", None, closed_at=NOW - timedelta(hours=4)),  # no contact
        state.create_ticket("two contacts", contacts[1], closed_at=NOW - timedelta(hours=3),
                            store="paris"),
        state.create_ticket("epoch", contacts[2], closed_at=NOW - timedelta(hours=2)),
    ]
    state.associate(tickets[2], contacts[3])
    state.update_ticket(tickets[3], {"closed_date": str(int(
        (NOW - timedelta(hours=2)).timestamp() * 1000))})
    return contacts, tickets


def _sdk_search(adapter: HubSpotAdapter, extra: list[str]) -> list[Any]:
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[
            Filter(property_name="closed_date", operator="GTE",
                   value=str(int((NOW - timedelta(days=1)).timestamp() * 1000))),
            Filter(property_name="hs_pipeline_stage", operator="IN",
                   values=adapter._closed_stage_ids())])],
        sorts=[{"propertyName": "closed_date", "direction": "ASCENDING"}],
        properties=[*TICKET_PROPERTIES, *extra], limit=100)
    return list(adapter._search_api.do_search(public_object_search_request=request).results)


def _sdk_contact_ids(adapter: HubSpotAdapter, ticket_ids: list[str]) -> dict[str, tuple[str, ...]]:
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[
        PublicFetchAssociationsBatchRequest(id=t) for t in ticket_ids])
    answer = adapter._associations_api.get_page(
        from_object_type="tickets", to_object_type="contacts",
        batch_input_public_fetch_associations_batch_request=body)
    return {str(row._from.id): tuple(str(to.to_object_id) for to in row.to or [])
            for row in answer.results}


def test_search_and_associations_match_the_sdk(adapter: HubSpotAdapter,
                                               state: HubSpotState) -> None:
    """Polled tickets (search + associations, as JSON) equal the SDK-decoded ones, field by
    field, with their contact ids and an extra (segment) property."""
    _, tickets = _edge_records(state)
    extra = HubSpotAdapter("hubspot", "sandbox-token", adapter._base_url,
                           start_at=NOW - timedelta(days=1), ticket_properties=["store"])

    polled = [t for page in extra.closed_tickets(None) for t in page.tickets]

    links = _sdk_contact_ids(adapter, tickets)
    from_sdk = [_ticket(row, ["store"]) for row in _sdk_search(adapter, ["store"])]
    expected = [t for t in from_sdk if t is not None]
    assert [t.id for t in expected] == tickets
    assert [(t, links.get(t.id, ())) for t in expected] == [
        (t.__class__(**{**vars(t), "contact_ids": ()}), t.contact_ids) for t in polled]


def test_tickets_batch_read_matches_the_sdk(adapter: HubSpotAdapter,
                                            state: HubSpotState) -> None:
    """Notified tickets and the reopen check read the tickets batch as JSON: the same closed
    tickets as the SDK's decoding; an open, a deleted and an unknown id are left out."""
    _, tickets = _edge_records(state)
    state.reopen_ticket(tickets[1])
    state.delete_ticket(tickets[3])
    asked = [*tickets, "999999"]

    answer = adapter._tickets_api.read(batch_read_input_simple_public_object_id=TicketsRead(
        inputs=[TicketId(id=i) for i in asked], properties=list(TICKET_PROPERTIES)),
        archived=False)
    closed = set(adapter._closed_stage_ids())
    sdk = [t for t in (_ticket(row) for row in answer.results)
           if t is not None and t.stage in closed]
    links = _sdk_contact_ids(adapter, [t.id for t in sdk])
    expected = sorted((t.id, t.closed_at, t.subject, t.pipeline, t.stage, t.owner_id,
                        t.team_id, links.get(t.id, ())) for t in sdk)

    got = adapter.closed_tickets_by_id(asked)

    assert expected == sorted((t.id, t.closed_at, t.subject, t.pipeline, t.stage, t.owner_id,
                               t.team_id, t.contact_ids) for t in got)
    assert {tickets[1], tickets[3], "999999"} == adapter.reopened(asked)


def test_contacts_batch_read_matches_the_sdk(adapter: HubSpotAdapter,
                                             state: HubSpotState) -> None:
    """Contacts read as JSON equal the SDK-decoded ones: time zones (known and not),
    customer and creation dates (ISO and epoch ms), company ids ("77.0"), empty names,
    no address, an extra property; an unknown id is left out."""
    contacts, _ = _edge_records(state)
    asked = [*contacts, "424242"]
    answer = adapter._contacts_api.read(batch_read_input_simple_public_object_id=ContactsRead(
        inputs=[ContactId(id=i) for i in asked], properties=[*CONTACT_PROPERTIES, "region"]))
    expected = {str(row.id): to_contact(row, ["region"]) for row in answer.results}
    with_region = HubSpotAdapter("hubspot", "sandbox-token", adapter._base_url,
                                 contact_properties=["region"])

    got = with_region.contacts(asked)

    assert expected == got
    assert list(got) == contacts
    assert got[contacts[3]].properties == {"region": "north"}
    assert got[contacts[2]].organization_id == "77"


def test_attribution_read_matches_the_sdk(adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """Owner and team read as JSON equal the SDK-decoded ones: set, missing (None) and a
    deleted ticket (left out)."""
    _, tickets = _edge_records(state)
    state.delete_ticket(tickets[2])
    answer = adapter._tickets_api.read(batch_read_input_simple_public_object_id=TicketsRead(
        inputs=[TicketId(id=i) for i in tickets],
        properties=["hubspot_owner_id", "hubspot_team_id"]), archived=False)
    expected = {str(row.id): (row.properties.get("hubspot_owner_id") or None,
                              row.properties.get("hubspot_team_id") or None)
                for row in answer.results}

    got = adapter.ticket_attribution(tickets)

    assert expected == {tid: (a.owner_id, a.team_id) for tid, a in got.items()}
    assert (got[tickets[0]].owner_id, got[tickets[0]].team_id) == ("71", "41")
    assert tickets[2] not in got


def test_ticket_properties_update_as_json(adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """The tickets batch update goes as JSON and reads only the 207's errors: the live
    ticket gets its value (later values win per ticket), the deleted one is refused with
    HubSpot's reason and gets no note."""
    _, tickets = _edge_records(state)
    state.delete_ticket(tickets[1])
    updates = [TicketUpdate(tickets[0], properties={"subject": "first"}),
               TicketUpdate(tickets[0], properties={"subject": "Ünïcode wins"}),
               TicketUpdate(tickets[1], properties={"subject": "gone"})]

    result = adapter.update_tickets(updates)

    assert state.tickets[tickets[0]].props["subject"] == "Ünïcode wins"
    assert list(result.rejected) == [tickets[1]]
    assert result.rejected[tickets[1]].startswith("OBJECT_NOT_FOUND")
