"""Durations carry a unit: a bare number is an error naming the key, the value and an example."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from closedloop.daemon.config import (
    DaemonSettings,
    ProgramSettings,
    RulesSettings,
    SourceSettings,
    load_config,
    parse_config,
)
from closedloop.integration.errors import ConfigError

CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]
ROOT = Path(__file__).resolve().parents[2]


def _duration_keys(model: type[Any]) -> list[str]:
    """The model's fields typed as durations (single or a list), found from the type itself."""
    return sorted(name for name, info in model.model_fields.items()
                  if "timedelta" in str(info.annotation))


# Every duration key of the config, with the table it sits in (the Zendesk-only ones need a
# Zendesk source). Found from the models so a new duration key is covered without editing here.
DURATION_KEYS = (
    [("daemon", key) for key in _duration_keys(DaemonSettings)]
    + [("sources.zendesk", key) for key in _duration_keys(SourceSettings)]
    + [("rules", key) for key in _duration_keys(RulesSettings)]
    + [("programs[0]", key) for key in _duration_keys(ProgramSettings)]
)


def config_with(table: str, key: str, value: object) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sources": {"zendesk": {"crm": "zendesk", "subdomain": "acme",
                                "email": "agent@acme.example"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "csat", "type": "csat", "source": "zendesk", "company": "Acme"}],
    }
    if key == "reminders":
        value = [value]
    if table == "programs[0]":
        data["programs"][0][key] = value
    elif table == "sources.zendesk":
        data["sources"]["zendesk"][key] = value
    else:
        data[table] = {key: value}
    return data


def test_every_duration_key_is_covered() -> None:
    """The list the next test walks holds the keys the example config documents (18 of them:
    safety_poll_every and idle_poll_max joined with CRM change notifications)."""
    assert len(DURATION_KEYS) == 18
    assert ("sources.zendesk", "safety_poll_every") in DURATION_KEYS
    assert ("programs[0]", "delay") in DURATION_KEYS
    assert ("rules", "global_cooldown") in DURATION_KEYS
    assert ("sources.zendesk", "retry_budget") in DURATION_KEYS


@pytest.mark.parametrize(("table", "key"), DURATION_KEYS)
def test_a_bare_number_is_refused_for_every_duration_key(table: str, key: str) -> None:
    """`key = 5` is one error line naming the key path, the value and an example with a unit."""
    path = f"{table}.{key}" + ("[0]" if key == "reminders" else "")
    with pytest.raises(ConfigError) as info:
        parse_config(config_with(table, key, 5), "config.toml")
    assert info.value.problems == [
        f"config.toml: {path}: a duration needs a unit, such as \"5m\" (ms, s, m, h or d); "
        "got the bare number 5"]


@pytest.mark.parametrize("value", [5, 2.5, 0, "5", " 30 ", -1])
def test_numbers_and_numeric_strings_are_all_refused(value: object) -> None:
    """Integers, floats, zero, a negative and a number written as a string: none means seconds."""
    with pytest.raises(ConfigError) as info:
        parse_config(config_with("programs[0]", "delay", value), "config.toml")
    assert info.value.problems == [
        f"config.toml: programs[0].delay: a duration needs a unit, such as \"5m\" "
        f"(ms, s, m, h or d); got the bare number {value!r}"]


@pytest.mark.parametrize(("value", "expected"), [
    ("5s", timedelta(seconds=5)), ("5m", timedelta(minutes=5)), ("0s", timedelta(0)),
    ("1.5h", timedelta(minutes=90)), ("250ms", timedelta(milliseconds=250)),
    ("2d", timedelta(days=2)),
])
def test_values_with_a_unit_still_parse(value: str, expected: timedelta) -> None:
    """The other side of the edge: the same numbers with a unit are accepted as written."""
    config = parse_config(config_with("programs[0]", "delay", value), "config.toml")
    assert config.programs[0].delay == expected


def test_the_shipped_example_and_the_bench_configs_still_parse() -> None:
    """config.example.toml writes every duration with its unit, so it still loads."""
    config = load_config(ROOT / "config.example.toml")
    assert config.rules.global_cooldown == timedelta(days=7)


def test_cli_check_names_the_key_of_a_bare_number(tmp_path: Path) -> None:
    """`closedloop check` on `delay = 5`: exit 2, one line naming programs[0].delay."""
    path = tmp_path / "config.toml"
    path.write_text('[sources.hubspot]\ncrm = "hubspot"\n[mail]\nfrom_address = "a@b.example"\n'
                    '[[programs]]\nname = "p"\ntype = "csat"\nsource = "hubspot"\n'
                    'company = "A"\ndelay = 5\n')
    run = subprocess.run([*CLOSEDLOOP, "check", "--config", str(path)],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                         check=False)
    assert (run.returncode, run.stderr.strip().splitlines()) == (2, [
        f"error: {path}: programs[0].delay: a duration needs a unit, such as \"5m\" "
        "(ms, s, m, h or d); got the bare number 5"])
