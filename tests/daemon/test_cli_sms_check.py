"""`closedloop check --online` with `[sms]`: Twilio's account and sender are read (two GETs
through the official client, against the Twilio sandbox), nothing is sent, and every way it
can be wrong is one named line, never a traceback nor the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.twilio import TwilioSandbox
from closedloop.integration.sandbox.twilio.server import SENDER

TOKEN = "cli-token"
INBOUND = "http://127.0.0.1:8080/hooks/twilio/inbound"  # the default public_url's hook


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[str, TwilioSandbox, dict[str, str]]]:
    with HubSpotSandbox(HubSpotState.seeded(tickets=1, contacts=1), token=TOKEN) as crm, \
            TwilioSandbox() as twilio:
        config = str(write_config(tmp_path, crm.url, f"""
[sms]
account_sid = "{twilio.account_sid}"
from_number = "{SENDER}"
base_url = "{twilio.url}"
"""))
        env = {"CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN,
               "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef",
               "CLOSEDLOOP_TWILIO_AUTH_TOKEN": twilio.auth_token}
        setup = CliRunner().invoke(app, ["setup", "--config", config], env=env)
        assert setup.exit_code == 0, setup.output
        twilio.numbers[SENDER] = INBOUND
        yield config, twilio, env


def _check(world: tuple[str, TwilioSandbox, dict[str, str]], **env: str) -> tuple[int, str]:
    config, _, base = world
    result = CliRunner().invoke(app, ["check", "--online", "--config", config],
                                env={**base, **env})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_working_account_and_sender(world: tuple[str, TwilioSandbox, dict[str, str]]) -> None:
    """Account active, sender owned with its webhook on our hook: exit 0, two reads, no text."""
    code, output = _check(world)
    assert code == 0, output
    assert "sms: Twilio account active, auth token accepted" in output
    assert f"sms: from_number {SENDER} belongs to the account" in output
    assert "warning" not in output
    twilio = world[1]
    reads = (twilio.calls["GET /Accounts/{Sid}.json"],
             twilio.calls["GET /IncomingPhoneNumbers.json"])
    assert (reads, twilio.messages) == ((1, 1), [])


def test_replies_pointed_elsewhere_is_a_warning(
        world: tuple[str, TwilioSandbox, dict[str, str]]) -> None:
    """The number's "A message comes in" webhook elsewhere (or unset): exit 0 with a warning
    naming the URL it should be."""
    world[1].numbers[SENDER] = "https://old.example/sms"
    code, output = _check(world)
    assert code == 0, output
    assert f"replies to {SENDER} go to 'https://old.example/sms', not {INBOUND}" in output


def test_a_refused_token_is_named_not_printed(
        world: tuple[str, TwilioSandbox, dict[str, str]]) -> None:
    code, output = _check(world, CLOSEDLOOP_TWILIO_AUTH_TOKEN="wrong-token-123")
    assert code == 1
    assert "Twilio refused the auth token in CLOSEDLOOP_TWILIO_AUTH_TOKEN" in output
    assert "wrong-token-123" not in output


def test_a_sender_of_another_account(world: tuple[str, TwilioSandbox, dict[str, str]]) -> None:
    world[1].numbers.clear()
    code, output = _check(world)
    assert code == 1
    assert f"from_number {SENDER} is not a number of account" in output


def test_a_suspended_account(world: tuple[str, TwilioSandbox, dict[str, str]]) -> None:
    world[1].account_status = "suspended"
    code, output = _check(world)
    assert code == 1
    assert "the Twilio account is suspended, not active" in output


def test_twilio_unreachable(world: tuple[str, TwilioSandbox, dict[str, str]]) -> None:
    world[1].stop()
    code, output = _check(world)
    assert code == 1
    assert "sms: cannot reach Twilio at http://127.0.0.1:" in output
