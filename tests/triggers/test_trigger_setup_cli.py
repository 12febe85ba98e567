"""`closedloop setup` for survey triggers: the HubSpot workflow action to add, and (with
--zendesk-trigger) Zendesk's webhook and one survey trigger per event program created once
through the API, the webhook's signing secret read back and compared with the environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

HS_TOKEN, ZD_TOKEN = "cli-hs-token", "cli-zd-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": HS_TOKEN, "CLOSEDLOOP_ZENDESK_TOKEN": ZD_TOKEN,
       "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef",
       "CLOSEDLOOP_HUBSPOT_WEBHOOK_SECRET": "hs-app-secret"}


@pytest.fixture
def sandboxes() -> Iterator[tuple[HubSpotSandbox, ZendeskSandbox]]:
    with HubSpotSandbox(HubSpotState.seeded(tickets=3, contacts=3), token=HS_TOKEN) as hs, \
            ZendeskSandbox(ZendeskState.seeded(tickets=3), token=ZD_TOKEN) as zd:
        yield hs, zd


def write_config(tmp_path: Path, hs: HubSpotSandbox, zd: ZendeskSandbox) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "json"
public_url = "https://feedback.acme.example"
[sources.hubspot]
crm = "hubspot"
base_url = "{hs.url}"
triggers = true
[sources.zendesk]
crm = "zendesk"
subdomain = "{zd.subdomain}"
email = "{zd.email}"
base_url = "{zd.url}"
triggers = true
[mail]
from_address = "feedback@acme.example"
[[programs]]
name = "support-csat"
type = "csat"
source = "hubspot"
company = "Acme"
[[programs]]
name = "delivery"
type = "csat"
source = "zendesk"
company = "Acme"
trigger = "event"
""", encoding="utf-8")
    return str(path)


def test_setup_creates_the_survey_trigger_once_and_reads_the_secret_back(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """First run: webhook + trigger "ClosedLoop: survey delivery" (solved, tagged
    closedloop_delivery), the secret to export; second run: found, nothing new, and the
    environment now holding the secret is confirmed without printing it."""
    hs, zd = sandboxes
    config = write_config(tmp_path, hs, zd)
    runner = CliRunner()
    first = runner.invoke(app, ["setup", "--zendesk-trigger", "--config", config], env=ENV)
    assert first.exit_code == 0, first.output
    [hook] = zd.automation.webhooks.values()
    secret = zd.automation.secrets[hook["id"]]
    assert "trigger 'ClosedLoop: survey delivery' created" in first.output
    assert f"export CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET='{secret}'" in first.output
    again = runner.invoke(app, ["setup", "--zendesk-trigger", "--config", config],
                          env={**ENV, "CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET": secret})
    assert again.exit_code == 0, again.output
    assert "trigger 'ClosedLoop: survey delivery' already there" in again.output
    assert "CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET holds the webhook's signing secret" in again.output
    assert secret not in again.output
    [trigger] = zd.automation.triggers
    webhook_id, body = trigger["actions"][0]["value"]
    assert (trigger["title"], trigger["conditions"]["all"], webhook_id, json.loads(body)) == (
        "ClosedLoop: survey delivery",
        [{"field": "status", "operator": "value", "value": "solved"},
         {"field": "current_tags", "operator": "includes", "value": "closedloop_delivery"}],
        hook["id"],
        {"program": "delivery", "contact_id": "{{ticket.requester.id}}",
         "ticket_id": "{{ticket.id}}"})
    assert (hook["name"], hook["endpoint"]) == (
        "ClosedLoop", "https://feedback.acme.example/hooks/zendesk")


def test_setup_prints_the_hubspot_workflow_action(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    hs, zd = sandboxes
    result = CliRunner().invoke(app, ["setup", "--config", write_config(tmp_path, hs, zd)],
                                env=ENV)
    assert result.exit_code == 0, result.output
    assert "  1. method POST, URL https://feedback.acme.example/hooks/hubspot" in result.output
    assert "run `closedloop setup --zendesk-trigger`" in result.output
    assert zd.automation.webhooks == {}
