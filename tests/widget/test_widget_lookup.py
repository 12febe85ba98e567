"""Visitors the store never met are read from the program's CRM by e-mail (the HubSpot
sandbox over real HTTP), once per hour whether the CRM knows them or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from widget_support import ANA, NOW, FakeMonotonic, identity, post, serve

from closedloop.daemon.store import Store
from closedloop.daemon.web.widget.lookup import CrmLookup
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "widget-lookup-token"
READS = "POST /crm/v3/objects/contacts/batch/read"


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotSandbox, HubSpotAdapter, str]]:
    state = HubSpotState.seeded(tickets=1, contacts=1, seed=5, now=NOW - timedelta(days=3))
    contact = state.create_contact(ANA, "Ana", "Lima", "pt")
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url)
        try:
            yield sandbox, adapter, contact
        finally:
            adapter.close()


def test_a_visitor_only_the_crm_knows_gets_a_card_for_one_read(
        lite: Store, hubspot: tuple[HubSpotSandbox, HubSpotAdapter, str]) -> None:
    """The store never surveyed Ana; HubSpot knows her: one batch read by e-mail, then the
    card, stored against her HubSpot contact; the next pages ask HubSpot nothing."""
    sandbox, adapter, contact = hubspot
    sandbox.reset_calls()
    with serve(lite, lookup=CrmLookup({"hubspot": adapter})) as client:
        first = post(client, "check", identity()).json()
        again = post(client, "check", identity()).json()
    assert first["survey"] is not None
    assert again["survey"]["id"] == first["survey"]["id"]  # offered again, no new read
    assert sandbox.calls[READS] == 1
    send = lite.get_send(first["survey"]["id"])
    assert send is not None
    assert (send.contact_id, send.channel, send.trigger) == (contact, "web", "widget")


def test_an_address_no_crm_knows_is_remembered_as_unknown_for_the_ttl(
        lite: Store, hubspot: tuple[HubSpotSandbox, HubSpotAdapter, str]) -> None:
    """Bo is in neither: unknown_contact, one read; within the hour no second read; one
    second past it, a new read."""
    sandbox, adapter, _ = hubspot
    clock = FakeMonotonic()
    lookup = CrmLookup({"hubspot": adapter}, ttl=timedelta(hours=1), clock=clock)
    sandbox.reset_calls()
    bo = "bo@example.test"
    with serve(lite, lookup=lookup) as client:
        first = post(client, "check", identity(bo)).json()
        clock.seconds += 3600 - 1
        inside = post(client, "check", identity(bo)).json()
        reads_inside = sandbox.calls[READS]
        clock.seconds += 1
        after = post(client, "check", identity(bo)).json()
    assert [first["reason"], inside["reason"], after["reason"]] == ["unknown_contact"] * 3
    assert (reads_inside, sandbox.calls[READS]) == (1, 2)


def test_the_lookup_forgets_the_oldest_beyond_its_size(
        hubspot: tuple[HubSpotSandbox, HubSpotAdapter, str]) -> None:
    """Memory is bounded: with room for 2, a third address pushes the first out (read
    again), while the second stays remembered."""
    sandbox, adapter, _ = hubspot
    lookup = CrmLookup({"hubspot": adapter}, size=2)
    sandbox.reset_calls()
    for email in ("a@example.test", "b@example.test", "c@example.test", "b@example.test"):
        lookup(email, "hubspot")
    assert sandbox.calls[READS] == 3
    lookup("a@example.test", "hubspot")
    assert sandbox.calls[READS] == 4


def test_a_source_without_an_e_mail_search_is_never_asked() -> None:
    """An adapter without find_contacts_by_email (or another source): None, no call."""
    assert CrmLookup({"hubspot": object()})(ANA, "hubspot") is None
    assert CrmLookup({})(ANA, "zendesk") is None
