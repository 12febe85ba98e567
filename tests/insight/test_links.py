"""Drill-down links to CRM records: Zendesk's agent view from the subdomain, HubSpot's
record page when the portal id is known, the sandbox's own view otherwise, else none."""

from __future__ import annotations

from types import SimpleNamespace

from closedloop.daemon.insight.links import record_url


def test_zendesk_ticket_and_user() -> None:
    """A ticket links to the agent's ticket view; a survey with no ticket to the user."""
    source = SimpleNamespace(subdomain="acme")
    assert record_url(source, "zendesk", "42", "7") == "https://acme.zendesk.com/agent/tickets/42"
    assert record_url(source, "zendesk", None, "7") == "https://acme.zendesk.com/agent/users/7"


def test_hubspot_with_portal_sandbox_and_unknown() -> None:
    """Portal known: the record page; a sandbox base URL: its ticket view; api.hubapi.com
    without a portal: no link rather than a wrong one."""
    assert record_url(SimpleNamespace(portal_id="123"), "hubspot", "9", "5") == (
        "https://app.hubspot.com/contacts/123/record/0-5/9")
    assert record_url(SimpleNamespace(portal_id="123"), "hubspot", None, "5") == (
        "https://app.hubspot.com/contacts/123/record/0-1/5")
    sandbox = SimpleNamespace(base_url="http://127.0.0.1:8021/")
    assert record_url(sandbox, "hubspot", "9", "5") == "http://127.0.0.1:8021/_sandbox/tickets/9"
    assert record_url(SimpleNamespace(base_url="https://api.hubapi.com"), "hubspot", "9",
                      "5") is None
