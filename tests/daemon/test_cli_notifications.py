"""`closedloop setup` for CRM change notifications: the HubSpot steps and target URL, the
Zendesk webhook and trigger created once through the API (`--zendesk-trigger`), and the
signing secret each source then needs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import write_config as hubspot_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

HS_TOKEN, ZD_TOKEN = "cli-hs-token", "cli-zd-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": HS_TOKEN, "CLOSEDLOOP_ZENDESK_TOKEN": ZD_TOKEN,
       "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef",
       "CLOSEDLOOP_HUBSPOT_WEBHOOK_SECRET": "hs-app-secret",
       "CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET": "zd-signing-secret"}


@pytest.fixture
def sandboxes() -> Iterator[tuple[HubSpotSandbox, ZendeskSandbox]]:
    with HubSpotSandbox(HubSpotState.seeded(tickets=3, contacts=3), token=HS_TOKEN) as hs, \
            ZendeskSandbox(ZendeskState.seeded(tickets=3), token=ZD_TOKEN) as zd:
        yield hs, zd


def write_config(tmp_path: Path, hs: HubSpotSandbox, zd: ZendeskSandbox) -> str:
    path = hubspot_config(tmp_path, hs.url, extra=f"""[sources.zendesk]
crm = "zendesk"
subdomain = "{zd.subdomain}"
email = "{zd.email}"
base_url = "{zd.url}"
notifications = true
[[programs]]
name = "zendesk-csat"
type = "csat"
source = "zendesk"
company = "Acme"
""")
    text = path.read_text(encoding="utf-8").replace(
        'crm = "hubspot"\n', 'crm = "hubspot"\nnotifications = true\n').replace(
        "[daemon]\n", '[daemon]\npublic_url = "https://feedback.acme.example"\n')
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_setup_prints_hubspot_steps_and_creates_the_zendesk_trigger_once(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """HubSpot: the target URL and the subscription to make; Zendesk: a webhook to
    /hooks/zendesk and a trigger on "status changed to solved" that notifies it, created by
    the first --zendesk-trigger run and found (not duplicated) by the second."""
    hs, zd = sandboxes
    config = write_config(tmp_path, hs, zd)
    runner = CliRunner()
    plain = runner.invoke(app, ["setup", "--config", config], env=ENV)
    assert plain.exit_code == 0, plain.output
    assert "target URL: https://feedback.acme.example/hooks/hubspot" in plain.output
    assert "hs_pipeline_stage" in plain.output
    assert "closedloop setup --zendesk-trigger" in plain.output
    assert zd.automation.webhooks == {}

    first = runner.invoke(app, ["setup", "--zendesk-trigger", "--config", config], env=ENV)
    again = runner.invoke(app, ["setup", "--zendesk-trigger", "--config", config], env=ENV)
    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    assert "' created (01SANDBOX" in first.output
    assert "trigger 'ClosedLoop: ticket solved' created" in first.output
    assert "' already there (01SANDBOX" in again.output
    assert "trigger 'ClosedLoop: ticket solved' already there" in again.output
    hooks = list(zd.automation.webhooks.values())
    assert [(h["name"], h["endpoint"]) for h in hooks] == [
        ("ClosedLoop", "https://feedback.acme.example/hooks/zendesk")]
    # The signing secret is read back: the environment holds another, so setup says which.
    secret = zd.automation.secrets[hooks[0]["id"]]
    assert f"export CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET='{secret}'" in first.output
    triggers = zd.automation.triggers
    assert [(t["title"], t["conditions"]["all"], t["actions"][0]["value"][0])
            for t in triggers] == [
        ("ClosedLoop: ticket solved",
         [{"field": "status", "operator": "value", "value": "solved"}], hooks[0]["id"])]
    assert "zd-signing-secret" not in first.output + again.output


def test_notifications_without_their_secret_are_a_config_error(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """notifications = true needs the signing secret in the environment (check, run): one
    line each. `setup` does not: it is where the Zendesk one is read back from."""
    hs, zd = sandboxes
    config = write_config(tmp_path, hs, zd)
    env = {k: v for k, v in ENV.items() if "WEBHOOK" not in k}
    made = CliRunner().invoke(app, ["setup", "--zendesk-trigger", "--config", config], env=env)
    assert made.exit_code == 0, made.output
    secret = next(iter(zd.automation.secrets.values()))
    assert f"export CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET='{secret}'" in made.output
    result = CliRunner().invoke(app, ["check", "--config", config], env=env)
    assert result.exit_code == 2, result.output
    assert "sources.hubspot.webhook_secret_env: environment variable " \
        "CLOSEDLOOP_HUBSPOT_WEBHOOK_SECRET is not set" in result.output
    assert "CLOSEDLOOP_ZENDESK_WEBHOOK_SECRET is not set" in result.output
