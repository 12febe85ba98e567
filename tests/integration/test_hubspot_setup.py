"""ensure_properties and check_online against the sandbox."""

from __future__ import annotations

import pytest

from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.mappings.loader import CrmMapping, load_mapping

TOKEN = "sandbox-token"
PROPS_GET = "GET /crm/v3/properties/contacts"


@pytest.fixture
def mapping() -> CrmMapping:
    return load_mapping("hubspot")


def test_ensure_properties_creates_then_is_idempotent(adapter: HubSpotAdapter,
                                                      sandbox: HubSpotSandbox,
                                                      state: HubSpotState,
        mapping: CrmMapping) -> None:
    """First run creates the groups, all 19 contact properties and the 12 ticket properties
    (enumerations with their options); the second creates nothing and costs one GET per
    object type."""
    created = adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
    assert mapping.property_names() + mapping.ticket_property_names() == created
    assert "closedloop_feedback" in state.groups["contacts"]
    assert "closedloop_feedback" in state.groups["tickets"]
    on_ticket = state.properties["tickets"]["cl_csat_category"]
    assert (on_ticket["groupName"], [o["value"] for o in on_ticket["options"]]) == (
        "closedloop_feedback", ["unsatisfied", "satisfied"])
    category = state.properties["contacts"]["cl_nps_last_category"]
    assert [o["value"] for o in category["options"]] == ["detractor", "passive", "promoter"]
    assert category["groupName"] == "closedloop_feedback"

    sandbox.reset_calls()
    again = adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
    assert again == []
    assert dict(sandbox.calls) == {PROPS_GET: 1, "GET /crm/v3/properties/tickets": 1}


def test_ensure_properties_creates_only_missing_ones(adapter: HubSpotAdapter,
                                                     sandbox: HubSpotSandbox,
        mapping: CrmMapping) -> None:
    """With the group and one property present, only the others are created, no group POST."""
    specs = mapping.specs()
    adapter.ensure_properties(mapping.group_name, mapping.group_label, specs[:1])
    sandbox.reset_calls()

    created = adapter.ensure_properties(mapping.group_name, mapping.group_label, specs)

    assert (mapping.property_names() + mapping.ticket_property_names())[1:] == created
    assert sandbox.calls["POST /crm/v3/properties/contacts/groups"] == 0
    assert len(mapping.property_names()) - 1 == sandbox.calls["POST /crm/v3/properties/contacts"]
    assert len(mapping.ticket_property_names()) == sandbox.calls[
        "POST /crm/v3/properties/tickets"]


def test_check_online_all_good(with_properties: HubSpotAdapter,
        mapping: CrmMapping) -> None:
    """Right token, every scope, every property: ok with no problems."""
    check = with_properties.check_online(HubSpotAdapter.required_scopes, mapping.property_names())
    assert (check.ok, check.problems, check.missing_properties) == (True, [], [])
    assert set(HubSpotAdapter.required_scopes) <= set(check.scopes)


def test_check_online_missing_property(adapter: HubSpotAdapter,
        mapping: CrmMapping) -> None:
    """Before setup, every mapped property is listed as missing (the CLI says how many, once);
    nothing else is a problem."""
    names = mapping.property_names()
    check = adapter.check_online(HubSpotAdapter.required_scopes, names)
    assert (check.ok, check.problems, check.missing_properties) == (False, [], names)


def test_check_online_missing_scope(policy: RetryPolicy) -> None:
    """A token without crm.schemas.contacts.write is reported by scope name."""
    scopes = [s for s in HubSpotAdapter.required_scopes if s != "crm.schemas.contacts.write"]
    with HubSpotSandbox(HubSpotState(), token=TOKEN, scopes=scopes) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, retry=policy)
        check = adapter.check_online(HubSpotAdapter.required_scopes, [])
    expected = ["token lacks scope 'crm.schemas.contacts.write'"]
    assert (check.ok, check.problems) == (False, expected)


def test_check_online_bad_token(sandbox: HubSpotSandbox, policy: RetryPolicy) -> None:
    """A token HubSpot does not know gives exactly the 401 problem line."""
    adapter = HubSpotAdapter("hubspot", "not-the-token", sandbox.url, retry=policy)
    check = adapter.check_online(HubSpotAdapter.required_scopes, ["cl_nps_last_rating"])
    assert (check.ok, check.problems) == (False, ["token rejected by HubSpot (401)"])


def _open_connections_to(port: int) -> int:
    """Client connections of this process to `port` that still hold a socket."""
    import gc

    import urllib3.connection

    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, urllib3.connection.HTTPConnection) and o.port == port
               and o.sock is not None)


def test_close_leaves_no_socket_open_to_the_crm(adapter: HubSpotAdapter,
                                                 sandbox: HubSpotSandbox,
                                                 mapping: CrmMapping) -> None:
    """After close(), no kept-alive connection to the CRM is left, though the SDK keeps its
    last response (and with it the pool) alive: urllib3 2's PoolManager.clear() alone only
    forgets the pools (7 sockets stayed open per adapter before the fix)."""
    adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
    adapter.contacts(["1"])
    port = int(sandbox.url.rsplit(":", 1)[1])
    assert _open_connections_to(port) > 0  # the calls left kept-alive connections

    adapter.close()

    assert _open_connections_to(port) == 0
