"""`closedloop plan` from the command line, against the sandbox HubSpot: a table or JSON,
and the state database is left as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.store import Store
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "cli-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN, "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef"}


@pytest.fixture
def state() -> HubSpotState:
    state = HubSpotState()
    now = datetime.now(UTC)
    for name in ("ada", "bob"):
        contact = state.create_contact(f"{name}@example.com", name.title(), "Doe", "en")
        state.create_ticket("Printer on fire", contact, closed_at=now - timedelta(minutes=5))
    return state


@pytest.fixture
def config(tmp_path: Path, state: HubSpotState) -> Iterator[Path]:
    with HubSpotSandbox(state, token=TOKEN) as sandbox:
        path = tmp_path / "config.toml"
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        path.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "json"
[sources.hubspot]
crm = "hubspot"
base_url = "{sandbox.url}"
start_at = "{start}"
[mail]
from_address = "feedback@acme.example"
[rules]
quiet_hours = []
[[programs]]
name = "support-csat"
type = "csat"
source = "hubspot"
company = "Acme"
""")
        yield path


def test_plan_as_json_lists_each_survey_and_writes_nothing(tmp_path: Path, config: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--days", "2", "--json", "--config", str(config)],
                                env=ENV)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert sorted((e["email"], e["action"], e["origin"]) for e in plan["entries"]) == [
        ("ada@example.com", "send", "new_ticket"), ("bob@example.com", "send", "new_ticket")]
    assert plan["counts"] == {"send.support-csat": 2}
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    assert store.counts()["sends.pending"] == 0
    assert store.get_cursor("hubspot", "closed_tickets") is None
    store.dispose()


def test_plan_as_a_table(config: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--config", str(config)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "nothing is sent" in result.stdout
    assert "ada@example.com" in result.stdout
    assert "send.support-csat" in result.stdout


def test_days_out_of_range_is_a_usage_error(config: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--days", "0", "--config", str(config)], env=ENV)
    assert result.exit_code == 2
