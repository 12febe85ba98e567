"""`closedloop setup` creates every configured program prefix's properties, idempotently."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "setup-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN, "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef"}


def test_setup_creates_each_prefix_once(tmp_path: Path) -> None:
    """Two NPS programs, one with prefix cl_nps_pro: 19 default properties + 5 of cl_nps_pro;
    the second run creates nothing; the label names the program."""
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0) as sandbox:
        config = tmp_path / "config.toml"
        config.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "json"
[sources.hubspot]
crm = "hubspot"
base_url = "{sandbox.url}"
[mail]
from_address = "feedback@acme.example"
[[programs]]
name = "nps-core"
type = "nps"
source = "hubspot"
company = "Acme"
[[programs]]
name = "nps-pro"
type = "nps"
source = "hubspot"
company = "Acme"
prefix = "cl_nps_pro"
""", encoding="utf-8")
        runner = CliRunner()
        first = runner.invoke(app, ["setup", "--config", str(config)], env=ENV)
        assert "sources.hubspot: 24 properties created, 0 already there" in first.stdout
        again = runner.invoke(app, ["setup", "--config", str(config)], env=ENV)
        assert "sources.hubspot: 0 properties created, 24 already there" in again.stdout
        checked = runner.invoke(app, ["check", "--online", "--config", str(config)], env=ENV)
        assert "24 mapped properties exist" in checked.stdout, checked.output
        pro = state.properties["contacts"]["cl_nps_pro_last_rating"]
        assert (pro["label"], pro["type"]) == ("Last NPS rating (nps-pro)", "number")
        assert state.properties["contacts"]["cl_nps_last_rating"]["label"] == (
            "Last NPS rating (nps-core)")
