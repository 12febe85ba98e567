"""[reporting]: the reporting zone, custom segments (where each is read, per source) and the
dashboard's scope levels, validated when the config loads with messages that name the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def config(reporting: dict[str, Any]) -> dict[str, Any]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"},
                    "zendesk": {"crm": "zendesk", "subdomain": "acme",
                                "email": "admin@acme.example"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "nps", "type": "nps", "source": "hubspot", "company": "Acme"}],
        "reporting": reporting,
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return "\n".join(info.value.problems)


def test_defaults() -> None:
    """No [reporting]: UTC periods, no custom segments, no scope levels."""
    cfg = parse_config({k: v for k, v in config({}).items() if k != "reporting"})
    assert (cfg.reporting.timezone, cfg.reporting.segments, cfg.reporting.scope) == (
        "UTC", {}, ())


def test_segment_sources_per_crm() -> None:
    """A segment read the same way everywhere, and one named differently per source; a source
    the table leaves out captures nothing for that segment."""
    cfg = parse_config(config({
        "timezone": "Europe/Oslo", "scope": ["region", "store"],
        "segments": {"region": "contact.region",
                     "store": {"hubspot": "ticket.store", "zendesk": "ticket.360001234"},
                     "tier": {"zendesk": "contact.tier"}}}))
    rep = cfg.reporting
    assert rep.properties("hubspot", "contact") == {"region": "region"}
    assert rep.properties("hubspot", "ticket") == {"store": "store"}
    assert rep.properties("zendesk", "ticket") == {"store": "360001234"}
    assert rep.properties("zendesk", "contact") == {"region": "region", "tier": "tier"}
    assert rep.source_for("tier", "hubspot") is None


def test_builtin_scope_level() -> None:
    """A scope level may be a built-in segment (e.g. a team), not only a custom one."""
    cfg = parse_config(config({"scope": ["team"]}))
    assert cfg.reporting.scope == ("team",)


@pytest.mark.parametrize(("reporting", "expected"), [
    ({"timezone": "Mars/Olympus"}, r"reporting\.timezone: .*IANA time zone"),
    ({"small_sample": 0}, r"reporting\.small_sample: "),
    ({"segments": {"Store": "ticket.store"}}, r"reporting\.segments\.Store.*lower-case"),
    ({"segments": {"team": "ticket.team"}}, r"'team' is a built-in segment"),
    ({"segments": {"store": "deal.store"}}, r"contact\.PROPERTY.*'deal\.store'"),
    ({"segments": {"store": "ticket."}}, r"'ticket\.'"),
    ({"segments": {"store": {"hubspot": "store"}}}, r"'store'"),
    ({"segments": {"store": {"hubspt": "ticket.store"}}},
     r"reporting\.segments\.store: 'hubspt' is not a configured source"),
    ({"scope": ["region"]}, r"scope level 'region' is not a segment"),
    ({"segments": {"store": "ticket.store"}, "scope": ["store", "store"]}, r"twice"),
    ({"colour": "red"}, r"reporting\.colour: unknown key"),
])
def test_bad_settings_are_named(reporting: dict[str, Any], expected: str) -> None:
    """Each mistake is one message naming the key and what was expected."""
    assert re.search(expected, problems(config(reporting))), problems(config(reporting))


def test_example_block_parses_when_uncommented() -> None:
    """The commented [reporting] example in config.example.toml is valid as written."""
    text = (ROOT / "config.example.toml").read_text()
    block = text[text.index("# [reporting]"):].split("\n\n")[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()
             if line.startswith("# [reporting") or re.match(r"# [a-z_]+ = ", line)]
    data = tomllib.loads("\n".join(lines))
    cfg = parse_config(config(data["reporting"]))
    assert cfg.reporting.scope == ("region", "store")
    assert cfg.reporting.properties("zendesk", "ticket") == {"store": "360001234"}
