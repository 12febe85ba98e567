"""Sandbox endpoints for the reopened check, ticket notes and NPS lists, driven by the real
hubspot-api-client over HTTP and checked against HubSpot's OpenAPI descriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hubspot.crm.lists.exceptions import ApiException as ListsApiException
from hubspot.crm.objects.notes import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.objects.notes.exceptions import ApiException as NotesApiException
from hubspot.crm.tickets import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from sandbox_support import NOW, make_client

from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState


def _ticket_read(ids: list[str]) -> BatchReadInputSimplePublicObjectId:
    return BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids],
        properties=["hs_pipeline", "hs_pipeline_stage", "closed_date"])


def _note(body: str, ticket: str, contact: str | None,
          ticket_type: int = 228) -> SimplePublicObjectBatchInputForCreate:
    links = [PublicAssociationsForObject(to=PublicObjectId(id=ticket), types=[AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=ticket_type)])]
    if contact:
        links.append(PublicAssociationsForObject(to=PublicObjectId(id=contact), types=[
            AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=202)]))
    return SimplePublicObjectBatchInputForCreate(
        properties={"hs_note_body": body, "hs_timestamp": "2026-11-20T12:00:00.000Z"},
        associations=links)


# ---------------------------------------------------------------- tickets: reopen, delete
def test_reopen_moves_to_an_open_stage_and_clears_closed_date() -> None:
    """A reopened ticket sits in its pipeline's last open stage with no closed_date."""
    state = HubSpotState()
    tid = state.create_ticket("Refund", None, closed_at=NOW - timedelta(hours=2))
    reopened = state.reopen_ticket(tid, at=NOW)
    props = reopened["properties"]
    assert (props["hs_pipeline_stage"], props["closed_date"]) == ("3", None)
    assert props["hs_lastmodifieddate"] == "2026-11-20T12:00:00.000Z"


def test_ticket_batch_read_hides_deleted_tickets(client: Any, state: HubSpotState,
                                                 spec: Any) -> None:
    """Deleted and unknown ids come back as one 207 OBJECT_NOT_FOUND naming them; with
    archived=true the deleted ticket is readable, marked archived. Bodies fit the spec."""
    live, gone = "1001", "1002"
    state.delete_ticket(gone)
    answer = client.crm.tickets.batch_api.read(_ticket_read([live, gone, "999999"]))
    assert [live] == [r.id for r in answer.results]
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert [gone, "999999"] == answer.errors[0].context["ids"]
    archived = client.crm.tickets.batch_api.read(_ticket_read([live, gone]), archived=True)
    assert [(gone, True)] == [(r.id, r.archived) for r in archived.results]

    raw = client.api_request({"method": "POST", "path": "/crm/v3/objects/tickets/batch/read",
                              "body": {"inputs": [{"id": live}, {"id": gone}],
                                       "properties": ["hs_pipeline_stage"]}})
    assert raw.status_code == 207
    assert spec("crm-tickets-v3.json", "/crm/v3/objects/tickets/batch/read", "post", "207",
                raw.json()) == []


def test_deleted_ticket_leaves_search(state: HubSpotState) -> None:
    """Deleting bumps the version, so a cached search no longer lists the ticket."""
    before = state.version
    state.delete_ticket("1001")
    assert state.version == before + 1
    assert "1001" not in state.tickets
    assert state.archived_tickets["1001"].public(["subject"])["archived"] is True


# ------------------------------------------------------------------------------- notes
def test_notes_batch_create_stores_associations(client: Any, state: HubSpotState,
                                                spec: Any) -> None:
    """201 with the created notes; the state keeps each note's ticket and contact."""
    tid = "1001"
    cid = state.create_contact("n@example.com", "N", "O")
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[_note("NPS 3 &mdash; slow refund", tid, cid), _note("CSAT 5", tid, None)])
    answer = client.crm.objects.notes.batch_api.create(body)
    assert answer.status == "COMPLETE"
    bodies = [r.properties["hs_note_body"] for r in answer.results]
    assert bodies == ["NPS 3 &mdash; slow refund", "CSAT 5"]
    notes = state.notes(ticket_id=tid)
    assert [([tid], [cid]), ([tid], [])] == [(n["ticket_ids"], n["contact_ids"]) for n in notes]
    assert [notes[0]["id"]] == [n["id"] for n in state.notes(contact_id=cid)]

    raw = client.api_request({"method": "POST", "path": "/crm/v3/objects/notes/batch/create",
                              "body": {"inputs": [{
                                  "properties": {"hs_note_body": "x",
                                                 "hs_timestamp": "1763640000000"},
                                  "associations": []}]}})
    assert raw.status_code == 201
    assert raw.json()["results"][0]["properties"]["hs_timestamp"] == "2025-11-20T12:00:00.000Z"
    assert spec("crm-notes-v3.json", "/crm/v3/objects/notes/batch/create", "post", "201",
                raw.json()) == []


@pytest.mark.parametrize(("ticket", "type_id", "needle"), [
    ("424242", 228, "ticket 424242"),  # a ticket that does not exist
    ("1001", 16, "not valid from notes"),  # a ticket->contact type id on a note
])
def test_notes_batch_is_refused_whole(client: Any, state: HubSpotState, ticket: str,
                                      type_id: int, needle: str) -> None:
    """One bad association refuses the whole batch with a 400: nothing is created."""
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[_note("ok", "1001", None), _note("bad", ticket, None, ticket_type=type_id)])
    with pytest.raises(NotesApiException) as caught:
        client.crm.objects.notes.batch_api.create(body)
    assert caught.value.status == 400
    assert needle in caught.value.body
    assert state.notes() == []


def test_note_without_timestamp_is_refused(client: Any) -> None:
    """hs_timestamp is required on a note: 400 VALIDATION_ERROR."""
    raw = client.api_request({"method": "POST", "path": "/crm/v3/objects/notes/batch/create",
                              "body": {"inputs": [{"properties": {"hs_note_body": "x"},
                                                   "associations": []}]}})
    assert raw.status_code == 400
    assert "hs_timestamp" in raw.json()["message"]


def test_notes_need_the_contacts_write_scope(sandbox: HubSpotSandbox) -> None:
    """crm-notes-v3 asks crm.objects.contacts.write for batch create: without it, 403."""
    state = sandbox.state
    with HubSpotSandbox(state, token="t", scopes=("tickets",)) as narrow:
        raw = make_client(narrow, "t").api_request({
            "method": "POST", "path": "/crm/v3/objects/notes/batch/create",
            "body": {"inputs": []}})
    assert raw.status_code == 403


# ------------------------------------------------------------------------------- lists
@pytest.fixture
def members(state: HubSpotState) -> tuple[str, list[str]]:
    """A list of 260 contacts (ids added in a shuffled order)."""
    ids = [state.create_contact(f"m{i}@example.com", "M", str(i)) for i in range(260)]
    shuffled = ids[::2] + ids[1::2]
    return state.create_list("NPS: customers", shuffled, at=NOW), ids


def test_memberships_page_by_record_id(client: Any, members: tuple[str, list[str]],
                                       spec: Any) -> None:
    """limit 250: a first page of 250 ids ascending by record id with an opaque `after`,
    then the last 10 and no next page; total is the list size on every page."""
    list_id, ids = members
    api = client.crm.lists.memberships_api
    first = api.get_page(list_id=list_id, limit=250)
    ordered = sorted(ids, key=int)
    assert ordered[:250] == [m.record_id for m in first.results]
    assert first.total == 260
    token = first.paging.next.after
    assert not token.isdigit()
    assert first.results[0].membership_timestamp == NOW
    second = api.get_page(list_id=list_id, after=token, limit=250)
    assert ordered[250:] == [m.record_id for m in second.results]
    assert second.paging.next is None

    raw = client.api_request({"method": "GET",
                              "path": f"/crm/v3/lists/{list_id}/memberships",
                              "qs": {"limit": 5, "after": token}}).json()
    assert spec("crm-lists-v3.json", "/crm/v3/lists/{listId}/memberships", "get", "200",
                raw) == []


def test_memberships_before_pages_descending(client: Any,
                                             members: tuple[str, list[str]]) -> None:
    """Only `before` given: the records preceding it, highest id first (per the spec)."""
    list_id, ids = members
    api = client.crm.lists.memberships_api
    first = api.get_page(list_id=list_id, limit=5)
    after_first = api.get_page(list_id=list_id, after=first.paging.next.after, limit=5)
    back = api.get_page(list_id=list_id, before=after_first.paging.prev.before, limit=5)
    ordered = sorted(ids, key=int)
    assert list(reversed(ordered[:5])) == [m.record_id for m in back.results]


def test_list_membership_changes_show_up(client: Any, state: HubSpotState,
                                         members: tuple[str, list[str]]) -> None:
    """remove_from_list / add_to_list change the next read."""
    list_id, ids = members
    state.remove_from_list(list_id, ids[:10])
    state.add_to_list(list_id, [state.create_contact("late@example.com", "L", "Ate")])
    page = client.crm.lists.memberships_api.get_page(list_id=list_id, limit=250)
    assert page.total == 251
    assert ids[0] not in {m.record_id for m in page.results}


@pytest.mark.parametrize(("path", "query", "status"), [
    ("/crm/v3/lists/999/memberships", {}, 404),
    ("/crm/v3/lists/999", {}, 404),
    ("/crm/v3/lists/{list}/memberships", {"limit": 251}, 400),
    ("/crm/v3/lists/{list}/memberships", {"after": "not-a-token"}, 400),
])
def test_list_errors(client: Any, members: tuple[str, list[str]], path: str,
                     query: dict[str, Any], status: int) -> None:
    """Unknown list -> 404 OBJECT_NOT_FOUND; limit over 250 or a forged token -> 400."""
    raw = client.api_request({"method": "GET", "path": path.format(list=members[0]),
                              "qs": query})
    assert raw.status_code == status
    assert raw.json()["category"] == ("OBJECT_NOT_FOUND" if status == 404 else
                                      "VALIDATION_ERROR")


def test_unknown_list_raises_not_found_in_the_client(client: Any) -> None:
    with pytest.raises(ListsApiException) as caught:
        client.crm.lists.memberships_api.get_page(list_id="31337")
    assert caught.value.status == 404


def test_list_by_id_fits_the_spec(client: Any, members: tuple[str, list[str]],
                                  spec: Any) -> None:
    """GET /crm/v3/lists/{id} answers ListFetchResponse the client parses (size, name)."""
    list_id, _ = members
    fetched = client.crm.lists.lists_api.get_by_id(list_id=list_id)
    assert (fetched.list.name, fetched.list.size, fetched.list.object_type_id) == (
        "NPS: customers", 260, "0-1")
    raw = client.api_request({"method": "GET", "path": f"/crm/v3/lists/{list_id}"}).json()
    assert spec("crm-lists-v3.json", "/crm/v3/lists/{listId}", "get", "200", raw) == []


def test_lists_need_the_lists_scope(state: HubSpotState) -> None:
    """Without crm.lists.read the memberships read is a 403."""
    list_id = state.create_list("x")
    with HubSpotSandbox(state, token="t", scopes=("tickets",)) as narrow:
        raw = make_client(narrow, "t").api_request({
            "method": "GET", "path": f"/crm/v3/lists/{list_id}/memberships"})
    assert raw.status_code == 403


def test_create_list_with_unknown_contact_creates_nothing() -> None:
    state = HubSpotState()
    with pytest.raises(KeyError):
        state.create_list("x", ["404"])
    assert state.lists == {}


# ------------------------------------------------------------------------------ contacts
def test_seeded_contacts_carry_time_zone_company_and_customer_date() -> None:
    """Most seeded contacts have HubSpot-encoded time zones, a company and (customers) a
    customer date between creation and now."""
    state = HubSpotState.seeded(tickets=200, contacts=300, seed=2, now=NOW)
    recs = list(state.contacts.values())
    zones = [r.props["hs_timezone"] for r in recs if r.props["hs_timezone"]]
    assert 0.75 < len(zones) / len(recs) < 0.95
    assert all("_slash_" in z for z in zones)
    customers = [r for r in recs if r.props["hs_lifecyclestage_customer_date"]]
    assert 0.5 < len(customers) / len(recs) < 0.7
    for rec in customers:
        assert rec.props["lifecyclestage"] == "customer"
        since = datetime.fromisoformat(rec.props["hs_lifecyclestage_customer_date"] or "")
        assert rec.created_ms <= since.timestamp() * 1000 <= NOW.timestamp() * 1000
    assert any(r.props["associatedcompanyid"] for r in recs)


def test_create_contact_keeps_its_positional_signature() -> None:
    """create_contact(email, first, last, language) still works; the new fields are keywords
    and the zone is stored the way HubSpot stores it."""
    state = HubSpotState()
    plain = state.contact(state.create_contact("a@example.com", "A", "B", "nb"))["properties"]
    assert (plain["hs_language"], plain["hs_timezone"]) == ("nb", None)
    since = datetime(2025, 3, 1, tzinfo=UTC)
    cid = state.create_contact("c@example.com", "C", "D", timezone="America/Port-au-Prince",
                               customer_since=since, company_id="9100001")
    props = state.contact(cid)["properties"]
    assert props["hs_timezone"] == "america_slash_port_hyphen_au_hyphen_prince"
    assert props["hs_lifecyclestage_customer_date"] == "2025-03-01T00:00:00.000Z"
    assert props["associatedcompanyid"] == "9100001"


def test_becoming_a_customer_stamps_the_customer_date() -> None:
    """Setting lifecyclestage=customer stamps hs_lifecyclestage_customer_date once."""
    state = HubSpotState()
    cid = state.create_contact("a@example.com", "A", "B")
    state.update_contact(cid, {"lifecyclestage": "customer"})
    first = state.contact(cid)["properties"]["hs_lifecyclestage_customer_date"]
    assert first is not None
    state.update_contact(cid, {"firstname": "Z"})
    assert state.contact(cid)["properties"]["hs_lifecyclestage_customer_date"] == first


def test_admin_routes_drive_reopen_delete_lists_and_notes(sandbox: HubSpotSandbox,
                                                          state: HubSpotState) -> None:
    """The demo and a human drive the new state over /_sandbox/ without a token."""
    base = sandbox.url
    reopened = requests.post(f"{base}/_sandbox/tickets/1001/reopen", timeout=5)
    assert (reopened.status_code, reopened.json()["properties"]["closed_date"]) == (200, None)
    assert requests.delete(f"{base}/_sandbox/tickets/1002", timeout=5).status_code == 204
    assert "1002" in state.archived_tickets
    assert requests.delete(f"{base}/_sandbox/tickets/1002", timeout=5).status_code == 404
    made = requests.post(f"{base}/_sandbox/lists", json={"name": "VIP", "contactIds": ["1"]},
                         timeout=5)
    assert made.status_code == 201
    assert list(state.lists[made.json()["listId"]].members) == ["1"]
    bad = requests.post(f"{base}/_sandbox/lists", json={"name": "x", "contactIds": ["404"]},
                        timeout=5)
    assert bad.status_code == 400
    notes = requests.get(f"{base}/_sandbox/tickets/1001/notes", timeout=5)
    assert notes.json() == {"results": []}
