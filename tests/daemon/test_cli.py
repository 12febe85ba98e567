"""The admin's commands against the sandbox HubSpot: check --online, setup, status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "cli-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN, "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef"}


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(HubSpotState.seeded(tickets=5, contacts=5), token=TOKEN) as server:
        yield server


def test_check_online_then_setup_then_check_again(tmp_path: Path,
                                                   sandbox: HubSpotSandbox) -> None:
    """Before setup the online check names the missing properties; setup fixes it, idempotently."""
    config = str(write_config(tmp_path, sandbox.url))
    runner = CliRunner()
    offline = runner.invoke(app, ["check", "--config", config], env=ENV)
    assert offline.exit_code == 0, offline.output
    assert "OK (1 source(s), 1 program(s))" in offline.output

    before = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert before.exit_code == 1
    assert "cl_csat_last_rating" in before.output

    setup = runner.invoke(app, ["setup", "--config", config], env=ENV)
    assert setup.exit_code == 0, setup.output
    assert "19 properties created, 0 already there" in setup.output
    again = runner.invoke(app, ["setup", "--config", config], env=ENV)
    assert "0 properties created, 19 already there" in again.output

    after = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert after.exit_code == 0, after.output
    assert "token OK, scopes OK, 19 mapped properties exist" in after.output


def test_check_online_reports_a_bad_token_and_missing_scopes(tmp_path: Path) -> None:
    """A token HubSpot rejects, or one without a needed scope, is named, not a traceback."""
    state = HubSpotState.seeded(tickets=1, contacts=1)
    with HubSpotSandbox(state, token=TOKEN, scopes=["tickets"]) as narrow:
        config = str(write_config(tmp_path, narrow.url))
        runner = CliRunner()
        wrong = runner.invoke(app, ["check", "--online", "--config", config],
                              env={**ENV, "CLOSEDLOOP_HUBSPOT_TOKEN": "not-the-token"})
        assert wrong.exit_code == 1
        assert "401" in wrong.output
        scopes = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)
        assert scopes.exit_code == 1
        assert "crm.objects.contacts.write" in scopes.output
        assert "Traceback" not in wrong.output + scopes.output


def test_missing_secret_is_exit_2(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    """Without the token variable, check names it and exits 2."""
    config = str(write_config(tmp_path, sandbox.url))
    result = CliRunner().invoke(app, ["check", "--config", config],
                                env={"CLOSEDLOOP_SECRET_KEY": "x" * 20,
                                     "CLOSEDLOOP_HUBSPOT_TOKEN": ""})
    assert result.exit_code == 2
    assert "sources.hubspot.token_env: environment variable CLOSEDLOOP_HUBSPOT_TOKEN is not " \
           "set" in result.output


def test_bad_mapping_file_is_exit_2(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    """A mapping with an unknown value source is reported with its file and position."""
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[group]\nname = "g"\nlabel = "G"\n[[property]]\nname = "cl_x"\n'
                       'label = "X"\ntype = "number"\nfield_type = "number"\nsurvey = "csat"\n'
                       'value = "scroe"\n')
    config = write_config(tmp_path, sandbox.url)
    config.write_text(config.read_text().replace(
        'crm = "hubspot"', f'crm = "hubspot"\nmapping = "{mapping}"'))
    result = CliRunner().invoke(app, ["check", "--config", str(config)], env=ENV)
    assert result.exit_code == 2
    assert "scroe" in result.output
    assert "Traceback" not in result.output


def test_status_counts_as_json(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    """status works on a fresh state and prints the counts the admin reads."""
    config = str(write_config(tmp_path, sandbox.url))
    result = CliRunner().invoke(app, ["status", "--json", "--config", config], env=ENV)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["sends.pending"] == 0
    assert counts["responses"] == 0


def test_config_show_never_prints_secrets(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    """The effective config names the variables, never their values."""
    config = str(write_config(tmp_path, sandbox.url))
    result = CliRunner().invoke(app, ["config", "show", "--config", config], env=ENV)
    assert result.exit_code == 0
    assert "CLOSEDLOOP_HUBSPOT_TOKEN" in result.output
    assert TOKEN not in result.output


def test_unreachable_database_is_one_line_without_the_password(
        tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    """A PostgreSQL URL nobody answers: one error line, no traceback, the password masked."""
    config = write_config(tmp_path, sandbox.url)
    config.write_text(config.read_text().replace(
        f'state_url = "sqlite:///{tmp_path / "state.db"}"',
        'state_url = "postgres://closedloop:hunter2@127.0.0.1:1/closedloop"'))
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--config", str(config)], env=ENV)
    assert status.exit_code == 1
    assert status.output.startswith("error: the state database cannot be used (")
    assert "hunter2" not in status.output
    assert "Traceback" not in status.output
    shown = runner.invoke(app, ["config", "show", "--config", str(config)], env=ENV)
    assert "postgres://closedloop:***@127.0.0.1:1/closedloop" in shown.output
    assert "hunter2" not in shown.output


def test_a_token_with_a_line_break_is_a_config_error(tmp_path: Path,
                                                     sandbox: HubSpotSandbox) -> None:
    """A token with a stray space inside is named (exit 2) instead of breaking every call."""
    config = str(write_config(tmp_path, sandbox.url))
    result = CliRunner().invoke(app, ["check", "--config", config],
                                env={**ENV, "CLOSEDLOOP_HUBSPOT_TOKEN": "pat-na1 -abc\r\n"})
    assert result.exit_code == 2
    assert "contains spaces or control characters" in result.output
    assert "pat-na1" not in result.output
