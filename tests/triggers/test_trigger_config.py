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
