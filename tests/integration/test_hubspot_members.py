"""HubSpotAdapter.members(), the new contact fields, and the list checks of check_online."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from closedloop.integration.base import MemberSelection
from closedloop.integration.errors import ConfigError
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "sandbox-token"
SINCE = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _people(state: HubSpotState, n: int) -> list[str]:
    return [state.create_contact(f"m{i}@example.com", "M", str(i), "de",
                                 timezone="Europe/Berlin", customer_since=SINCE,
                                 company_id="9100002") for i in range(n)]


def test_members_page_through_a_list_of_260(adapter: HubSpotAdapter, state: HubSpotState,
                                            sandbox: HubSpotSandbox) -> None:
    """260 members: memberships pages of 250 and 10 (2 calls), each read as contacts
    100 at a time (3 + 1 calls), yielded page by page with every contact field."""
    ids = _people(state, 260)
    list_id = state.create_list("NPS customers", list(reversed(ids)))
    sandbox.reset_calls()

    pages = list(adapter.members(MemberSelection(list_id=list_id)))

    assert [len(p) for p in pages] == [250, 10]
    assert sorted(ids, key=int) == [c.id for p in pages for c in p]
    assert adapter.calls_by_endpoint() == {"list_memberships": 2, "contacts_read": 4}
    first = pages[0][0]
    actual = (first.email, first.language, first.timezone, first.organization_id,
              first.customer_since)
    assert actual == ("m0@example.com", "de", "Europe/Berlin", "9100002", SINCE)


def test_members_is_lazy(adapter: HubSpotAdapter, state: HubSpotState) -> None:
    """Nothing is called until the first page is asked for (the job decides when)."""
    list_id = state.create_list("x", _people(state, 3))
    pages = adapter.members(MemberSelection(list_id=list_id))
    assert adapter.call_count() == 0
    assert len(next(iter(pages))) == 3


def test_an_empty_list_yields_nothing(adapter: HubSpotAdapter, state: HubSpotState) -> None:
    list_id = state.create_list("empty")
    assert list(adapter.members(MemberSelection(list_id=list_id))) == []
    assert adapter.calls_by_endpoint() == {"list_memberships": 1}


def test_an_unknown_list_is_a_config_error(adapter: HubSpotAdapter) -> None:
    """A list id HubSpot does not have is a configuration problem naming the list."""
    with pytest.raises(ConfigError, match="'31337' does not exist"):
        list(adapter.members(MemberSelection(list_id="31337")))
    assert adapter.call_count() == 1


@pytest.mark.parametrize("selection", [
    MemberSelection(organization_id="42"), MemberSelection(tag="vip"),
    MemberSelection(query="role:end-user"), MemberSelection(),
    MemberSelection(list_id="1", tag="vip"),
])
def test_zendesk_selections_are_refused_without_a_call(adapter: HubSpotAdapter,
                                                       selection: MemberSelection) -> None:
    with pytest.raises(ConfigError, match="contact list"):
        adapter.members(selection)
    assert adapter.call_count() == 0


def test_members_retry_a_5xx_on_the_memberships_read(adapter: HubSpotAdapter,
                                                     state: HubSpotState,
                                                     sandbox: HubSpotSandbox) -> None:
    list_id = state.create_list("x", _people(state, 2))
    sandbox.fail_next(1, 502, path_prefix=f"/crm/v3/lists/{list_id}/memberships")
    assert [len(p) for p in adapter.members(MemberSelection(list_id=list_id))] == [2]
    assert adapter.calls_by_endpoint()["list_memberships"] == 2


# ------------------------------------------------------------------------- contact fields
def test_contacts_read_time_zone_company_and_customer_since(adapter: HubSpotAdapter,
                                                            state: HubSpotState) -> None:
    """Customer date preferred; else the creation date. An unmappable zone is None. Still
    one batch read for all of it."""
    created = datetime(2024, 6, 1, tzinfo=UTC)
    customer = state.create_contact("a@example.com", "A", "A", timezone="America/New_York",
                                    created_at=created, customer_since=SINCE, company_id="77")
    lead = state.create_contact("b@example.com", "B", "B", created_at=created,
                                timezone="mars_slash_olympus")

    found = adapter.contacts([customer, lead])

    got = [(c.timezone, c.organization_id, c.customer_since) for c in found.values()]
    assert got == [("America/New_York", "77", SINCE), (None, None, created)]
    assert adapter.calls_by_endpoint() == {"contacts_read": 1}


# --------------------------------------------------------------------------- online check
def test_required_scopes_add_lists_only_when_a_list_is_used(sandbox: HubSpotSandbox) -> None:
    plain = HubSpotAdapter("hubspot", TOKEN, sandbox.url)
    with_lists = HubSpotAdapter("hubspot", TOKEN, sandbox.url, lists=["1"])
    assert "crm.lists.read" not in plain.required_scopes
    assert with_lists.required_scopes == (*plain.required_scopes, "crm.lists.read")
    assert HubSpotAdapter.scopes_for(lists=True) == with_lists.required_scopes


def test_check_online_reports_a_missing_list(sandbox: HubSpotSandbox, state: HubSpotState,
                                             policy: RetryPolicy) -> None:
    """Each configured list is read once; only the one HubSpot lacks is a problem."""
    known = state.create_list("NPS")
    adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, lists=[known, "999"],
                             retry=policy)
    result = adapter.check_online(adapter.required_scopes, [])
    assert result.problems == ["contact list '999' does not exist"]
    assert adapter.calls_by_endpoint() == {"token_info": 1, "list_read": 2}


def test_check_online_without_the_lists_scope(state: HubSpotState,
                                              policy: RetryPolicy) -> None:
    """A token without crm.lists.read: one clear problem, and no list read that would 403."""
    scopes = ("tickets", "crm.objects.contacts.read", "crm.objects.contacts.write",
              "crm.schemas.contacts.read", "crm.schemas.contacts.write")
    with HubSpotSandbox(state, token=TOKEN, scopes=scopes) as narrow:
        adapter = HubSpotAdapter("hubspot", TOKEN, narrow.url, lists=["1"], retry=policy)
        result = adapter.check_online(adapter.required_scopes, [])
    assert result.problems == ["token lacks scope 'crm.lists.read'"]
    assert adapter.calls_by_endpoint() == {"token_info": 1}
