"""A first run as the README orders it passes; `check --online` before `setup` says once how
many properties are missing and that `closedloop setup` creates them (sandbox HubSpot and
Zendesk over HTTP, the real CLI)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import write_config as hubspot_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.config import load_config
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.sandbox.zendesk.seed import DEFAULT_EMAIL
from closedloop.mappings import load_mapping

ROOT = Path(__file__).resolve().parents[2]
HS_TOKEN, ZD_TOKEN = "first-hs-token", "first-zd-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": HS_TOKEN, "CLOSEDLOOP_ZENDESK_TOKEN": ZD_TOKEN,
       "CLOSEDLOOP_SECRET_KEY": "first-run-secret-0123456789abcdef"}


@pytest.fixture
def zendesk_state(request: pytest.FixtureRequest) -> ZendeskState:
    """The sandbox Zendesk; its token belongs to an admin unless the test asks for an agent."""
    state = ZendeskState.seeded(tickets=3)
    if getattr(request, "param", "admin") == "agent":
        state.create_user(DEFAULT_EMAIL, "Agent", role="agent")  # before the sandbox's admin
    return state


@pytest.fixture
def config(tmp_path: Path, zendesk_state: ZendeskState) -> Iterator[str]:
    """A HubSpot and a Zendesk source, each with a CSAT program, against the two sandboxes."""
    with HubSpotSandbox(HubSpotState.seeded(tickets=3, contacts=3), token=HS_TOKEN) as hs, \
            ZendeskSandbox(zendesk_state, token=ZD_TOKEN) as zd:
        yield str(hubspot_config(tmp_path, hs.url, extra=f"""[sources.zendesk]
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


def property_names(config: str, source: str) -> list[str]:
    cfg = load_config(Path(config))
    crm = cfg.sources[source].crm
    return load_mapping(crm, None, [p for p in cfg.program_list() if p.source == source]
                        ).property_names()


def ticket_property_names(config: str, source: str) -> list[str]:
    cfg = load_config(Path(config))
    return load_mapping(cfg.sources[source].crm, None,
                        [p for p in cfg.program_list() if p.source == source]
                        ).ticket_property_names()


def test_check_online_before_setup_says_once_what_is_missing(config: str) -> None:
    """One line per source and kind of property (not one per property), with the count and
    the way out; exit 1. HubSpot: contact properties, then ticket properties."""
    hs, zd = property_names(config, "hubspot"), property_names(config, "zendesk")
    ht = ticket_property_names(config, "hubspot")
    before = CliRunner().invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert before.exit_code == 1
    assert before.stderr.splitlines() == [
        f"error: sources.hubspot: {len(hs)} of {len(hs)} mapped contact properties do not exist "
        f"yet ({', '.join(hs[:3])} and {len(hs) - 3} more): `closedloop setup` creates them",
        f"error: sources.hubspot: {len(ht)} of {len(ht)} mapped ticket properties do not exist "
        f"yet ({', '.join(ht[:3])} and {len(ht) - 3} more): `closedloop setup` creates them",
        f"error: sources.zendesk: {len(zd)} of {len(zd)} mapped user fields do not exist "
        f"yet ({', '.join(zd[:3])} and {len(zd) - 3} more): `closedloop setup` creates them",
    ]
    assert len(hs) > 10  # the old output: one line for each of these


@pytest.mark.parametrize("zendesk_state", ["agent"], indirect=True)
def test_an_agents_zendesk_token_is_told_setup_needs_an_admin(config: str) -> None:
    """Missing user fields and a token of an agent (not an admin): the count line, and one line
    saying that only an admin's token can create them."""
    zd = property_names(config, "zendesk")
    run = CliRunner().invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert [line for line in run.stderr.splitlines() if "sources.zendesk" in line] == [
        "error: sources.zendesk: the token's user is agent: only an admin's token can create "
        "the missing user fields with setup",
        f"error: sources.zendesk: {len(zd)} of {len(zd)} mapped user fields do not exist "
        f"yet ({', '.join(zd[:3])} and {len(zd) - 3} more): `closedloop setup` creates them",
    ]


def readme_steps() -> list[str]:
    """The `closedloop ...` commands that open each numbered step of the README's setup list."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it with your HubSpot and/or Zendesk", 1)[1].split("\n| ", 1)[0]
    return re.findall(r"^\d+\. `closedloop ([a-z -]+)`", section, flags=re.MULTILINE)


def test_the_readme_steps_in_their_order_pass_on_a_first_run(config: str) -> None:
    """init/edit → check → setup → check --online → plan → run; every step up to run exits 0
    on a fresh CRM and state (init is covered by its own tests; run does not return)."""
    assert readme_steps() == ["init", "check", "setup", "check --online", "plan", "run"]
    runner = CliRunner()
    for step in readme_steps()[1:-1]:
        result = runner.invoke(app, [*step.split(), "--config", config], env=ENV)
        assert (step, result.exit_code) == (step, 0), result.output
