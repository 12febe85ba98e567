"""The admin's commands on a config holding a HubSpot and a Zendesk source at once."""

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
       "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef"}


@pytest.fixture
def sandboxes() -> Iterator[tuple[HubSpotSandbox, ZendeskSandbox]]:
    with HubSpotSandbox(HubSpotState.seeded(tickets=3, contacts=3), token=HS_TOKEN) as hs, \
            ZendeskSandbox(ZendeskState.seeded(tickets=3), token=ZD_TOKEN) as zd:
        yield hs, zd


def write_config(tmp_path: Path, hs: HubSpotSandbox, zd: ZendeskSandbox) -> str:
    return str(hubspot_config(tmp_path, hs.url, extra=f"""[sources.zendesk]
crm = "zendesk"
subdomain = "{zd.subdomain}"
email = "{zd.email}"
base_url = "{zd.url}"
[[programs]]
name = "zendesk-csat"
type = "csat"
source = "zendesk"
company = "Acme"
"""))


def test_check_online_then_setup_for_both_crms(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """The online check names the missing Zendesk user fields; setup creates them once."""
    hs, zd = sandboxes
    config = write_config(tmp_path, hs, zd)
    runner = CliRunner()
    before = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert before.exit_code == 1
    assert "sources.zendesk:" in before.output
    assert "cl_csat_last_rating" in before.output

    setup = runner.invoke(app, ["setup", "--config", config], env=ENV)
    assert setup.exit_code == 0, setup.output
    assert "sources.zendesk: 0 " not in setup.output
    keys = {field["key"] for field in zd.state.user_fields()}
    assert {"cl_csat_last_rating", "cl_csat_last_comment", "cl_csat_last_category"} <= keys
    created = len(keys)
    again = runner.invoke(app, ["setup", "--config", config], env=ENV)
    assert again.exit_code == 0, again.output
    assert len(zd.state.user_fields()) == created  # idempotent

    after = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert after.exit_code == 0, after.output
    assert "sources.zendesk: token OK" in after.output
    assert "sources.hubspot: token OK" in after.output


def test_check_online_names_a_wrong_zendesk_token(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    hs, zd = sandboxes
    config = write_config(tmp_path, hs, zd)
    wrong = CliRunner().invoke(app, ["check", "--online", "--config", config],
                               env={**ENV, "CLOSEDLOOP_ZENDESK_TOKEN": "nope"})
    assert wrong.exit_code == 1
    assert "sources.zendesk:" in wrong.output
    assert "Traceback" not in wrong.output
    assert "nope" not in wrong.output


def test_a_zendesk_source_without_its_agent_email_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("""
[sources.zendesk]
crm = "zendesk"
subdomain = "acme"
[mail]
from_address = "feedback@acme.example"
[[programs]]
name = "p"
type = "csat"
source = "zendesk"
company = "Acme"
""")
    result = CliRunner().invoke(app, ["check", "--config", str(path)], env=ENV)
    assert result.exit_code == 2
    assert "sources.zendesk: email is required for a Zendesk source" in result.output
