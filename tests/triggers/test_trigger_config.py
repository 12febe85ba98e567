"""`trigger = "event"` on a program: parsed onto Program, and refused beside what only the
poll or a cadence would use."""

from __future__ import annotations

import pytest

from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError


def config(**program: object) -> dict[str, object]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "onboarding", "type": "ces", "source": "hubspot",
                      "company": "Acme", **program}],
    }


def test_event_and_ticket_programs_parse() -> None:
    """Default "ticket"; "event" reaches Program.event_fed."""
    ticket = parse_config(config()).program_list()[0]
    event = parse_config(config(trigger="event")).program_list()[0]
    assert (ticket.trigger, ticket.event_fed, event.trigger, event.event_fed) == (
        "ticket", False, "event", True)


@pytest.mark.parametrize(("extra", "message"), [
    ({"type": "nps", "list_id": "7"}, 'trigger = "event" and list_id (a member list on a '
     "cadence) exclude each other: pick one way this program is fed"),
    ({"pipelines": ["0"]}, 'pipelines and stages filter closed tickets; a trigger = "event" '
     "program is fed by survey triggers only (remove them)"),
])
def test_event_programs_refuse_poll_and_cadence_settings(extra: dict[str, object],
                                                         message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(trigger="event", **extra), "config.toml")
    assert info.value.problems == [f"config.toml: programs[0]: {message}"]


def test_an_unknown_trigger_value_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(trigger="deal"), "config.toml")
    assert info.value.problems == [
        "config.toml: programs[0].trigger: Input should be 'ticket' or 'event' (got 'deal')"]


def with_triggers(**section: object) -> dict[str, object]:
    data = config()
    data["sources"] = {"hubspot": {"crm": "hubspot", "triggers": True}}
    data["triggers"] = section
    return data


def test_the_routes_and_their_secrets() -> None:
    """triggers = true reads the source's webhook secret; generic = true a whsec_ secret;
    both become routes of /hooks (the generic one Standard Webhooks-signed)."""
    from closedloop.daemon.env_secrets import read_secrets
    from closedloop.daemon.wiring import hook_sources

    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    cfg = parse_config(with_triggers(generic=True))
    env = {"CLOSEDLOOP_SECRET_KEY": "k" * 20, "CLOSEDLOOP_HUBSPOT_TOKEN": "t",
           "CLOSEDLOOP_HUBSPOT_WEBHOOK_SECRET": "app-secret",
           "CLOSEDLOOP_GENERIC_WEBHOOK_SECRET": whsec}
    routes = hook_sources(cfg, read_secrets(cfg, env))
    assert {name: (r.crm, r.secret, r.notifications, r.triggers)
            for name, r in routes.items()} == {
        "hubspot": ("hubspot", "app-secret", False, True),
        "generic": ("standard", whsec, False, True)}


def test_missing_or_malformed_generic_secret_is_a_config_error() -> None:
    from closedloop.daemon.env_secrets import read_secrets

    cfg = parse_config(with_triggers(generic=True))
    env = {"CLOSEDLOOP_SECRET_KEY": "k" * 20, "CLOSEDLOOP_HUBSPOT_TOKEN": "t",
           "CLOSEDLOOP_HUBSPOT_WEBHOOK_SECRET": "app-secret",
           "CLOSEDLOOP_GENERIC_WEBHOOK_SECRET": "not-base64!"}
    with pytest.raises(ConfigError) as info:
        read_secrets(cfg, env)
    assert [p.split(" is not ")[0] for p in info.value.problems] == [
        "triggers.generic_secret_env: environment variable CLOSEDLOOP_GENERIC_WEBHOOK_SECRET"]


def test_a_source_named_generic_conflicts_with_the_generic_route() -> None:
    data = with_triggers(generic=True)
    data["sources"] = {"generic": {"crm": "hubspot"}}
    data["programs"] = [{"name": "p", "type": "csat", "source": "generic", "company": "A"}]
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    assert info.value.problems == [
        "config.toml: sources.generic: the name is taken by POST /hooks/generic ([triggers] "
        "generic = true); rename the source"]
