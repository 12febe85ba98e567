"""`[sms]` and a program's `channel`: checked when the config loads, secrets from the env."""

from __future__ import annotations

from typing import Any

import pytest

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import read_secrets
from closedloop.integration.errors import ConfigError

SMS = {"account_sid": "AC" + "1" * 32, "from_number": "+15005550006", "default_region": "no"}


def config(sms: dict[str, Any] | None = None, channel: str = "sms") -> dict[str, Any]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "csat", "type": "csat", "source": "hubspot", "company": "Acme",
                      "channel": channel}],
        **({"sms": sms} if sms is not None else {}),
    }


def problems_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    return "\n".join(info.value.problems)


def test_a_texting_program_with_sms_settings_loads() -> None:
    """The program's channel and the region (upper-cased) reach the Program."""
    [program] = parse_config(config(SMS)).program_list()
    assert (program.channel, program.phone_region) == ("sms", "NO")


def test_email_programs_need_no_sms_table() -> None:
    """`channel` defaults to e-mail; no [sms] is needed for it."""
    [program] = parse_config(config(channel="email")).program_list()
    assert program.channel == "email"


@pytest.mark.parametrize(("sms", "channel", "expected"), [
    (None, "sms", "needs an [sms] table"),
    (None, "email_then_sms", "needs an [sms] table"),
    ({"account_sid": SMS["account_sid"]}, "sms", "give from_number"),
    ({**SMS, "messaging_service_sid": "MG" + "2" * 32}, "sms", "not both"),
    ({**SMS, "default_region": "XX"}, "sms", "not a region"),
    ({**SMS, "from_number": "555-0100"}, "sms", "from_number"),
    (SMS, "fax", "channel"),
])
def test_bad_sms_settings_are_named(sms: dict[str, Any] | None, channel: str,
                                    expected: str) -> None:
    """Each mistake is reported with the key it is about."""
    assert expected in problems_of(config(sms, channel))


def test_the_auth_token_comes_from_the_environment() -> None:
    """Missing: a problem naming the variable; set: a secret that never prints."""
    loaded = parse_config(config(SMS))
    env = {"CLOSEDLOOP_SECRET_KEY": "k" * 40, "CLOSEDLOOP_HUBSPOT_TOKEN": "t"}
    with pytest.raises(ConfigError) as info:
        read_secrets(loaded, env)
    assert any("CLOSEDLOOP_TWILIO_AUTH_TOKEN" in p for p in info.value.problems)
    secrets = read_secrets(loaded, {**env, "CLOSEDLOOP_TWILIO_AUTH_TOKEN": "secret-token"})
    assert secrets.sms_auth_token is not None
    assert secrets.sms_auth_token.get_secret_value() == "secret-token"
    assert "secret-token" not in repr(secrets)
