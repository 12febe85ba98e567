"""Config validation: one clear line per problem, secrets only from the environment."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from closedloop.daemon.config import load_config, parse_config, redacted
from closedloop.daemon.env_secrets import read_secrets
from closedloop.integration.errors import ConfigError

CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]  # the CLI, as installed

ROOT = Path(__file__).resolve().parents[2]


def minimal() -> dict[str, object]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "csat", "type": "csat", "source": "hubspot", "company": "Acme"}],
    }


def problems_of(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    return info.value.problems


def test_example_config_is_valid() -> None:
    """The shipped config.example.toml parses, with the documented durations."""
    config = load_config(ROOT / "config.example.toml")
    assert [p.name for p in config.programs] == ["support-csat", "billing-ces", "nps-customers"]
    assert sorted(config.sources) == ["hubspot", "zendesk"]
    assert config.program_list()[2].on_cadence
    assert config.programs[0].delay == timedelta(hours=1)
    assert config.daemon.link_max_age == timedelta(days=30)


def test_every_problem_is_reported_on_its_own_line() -> None:
    """Unknown key, wrong type, bad URL, bad duration and a dangling source: five lines."""
    data = minimal()
    data["sources"] = {"hubspot": {"crm": "hubspot", "base_url": "ftp://x", "tokn_env": "X"}}
    data["programs"] = [{"name": "a", "type": "csatt", "source": "hs", "company": "A",
                         "delay": "1 hour"}]
    assert problems_of(data) == [
        "config.toml: sources.hubspot.base_url: expected an http(s) URL such as "
        "https://example.com, got 'ftp://x'",
        "config.toml: sources.hubspot.tokn_env: unknown key (check the spelling; "
        "`closedloop init` writes every key, commented)",
        "config.toml: programs[0].type: Input should be 'csat', 'ces' or 'nps' (got 'csatt')",
        "config.toml: programs[0].delay: expected a duration such as '90s', '15m', '1h' or "
        "'2d', got '1 hour'",
        "config.toml: programs[0].source: 'hs' is not a configured source; expected one of: "
        "hubspot",
    ]


def test_missing_sections_and_duplicate_programs() -> None:
    """Missing mail, no programs, and two programs with one name are each named."""
    assert problems_of({"sources": {"hubspot": {"crm": "hubspot"}}}) == [
        "config.toml: mail: required key is missing",
        "config.toml: programs: required key is missing",
        "config.toml: programs: at least one [[programs]] table is needed",
    ]
    data = minimal()
    program = {"name": "a", "type": "nps", "source": "hubspot", "company": "A"}
    data["programs"] = [program, program]
    assert problems_of(data) == ["config.toml: programs[1].name: 'a' is used by an earlier program"]


def test_secrets_come_from_the_environment_and_never_print() -> None:
    """A missing secret names its variable; present ones are SecretStr and stay out of dumps."""
    config = parse_config(minimal())
    with pytest.raises(ConfigError) as info:
        read_secrets(config, env={})
    assert [p.split(":")[0] for p in info.value.problems] == [
        "daemon.secret_key_env", "sources.hubspot.token_env"]
    secrets = read_secrets(config, env={"CLOSEDLOOP_SECRET_KEY": "k" * 32,
                                        "CLOSEDLOOP_HUBSPOT_TOKEN": "pat-na1-secret"})
    assert secrets.source_tokens["hubspot"].get_secret_value() == "pat-na1-secret"
    assert "pat-na1-secret" not in repr(secrets)
    assert "pat-na1-secret" not in str(redacted(config))


def test_bad_toml_and_missing_file_are_one_line_each(tmp_path: Path) -> None:
    """Unreadable input is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.problems == [f"{tmp_path / 'nope.toml'}: file not found (run `closedloop "
                                   f"init {tmp_path / 'nope.toml'}` to write a commented "
                                   "example config there)"]
    broken = tmp_path / "broken.toml"
    broken.write_text("[daemon\n")
    with pytest.raises(ConfigError) as info:
        load_config(broken)
    assert info.value.problems[0].startswith(f"{broken}: not valid TOML:")


def test_cli_check_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    """`closedloop check` on a broken file: exit code 2, the problems on stderr, no traceback."""
    path = tmp_path / "config.toml"
    path.write_text('[daemon]\npoll_every = "soon"\nstate_url = "mysql://x"\n'
                    '[sources.hubspot]\ncrm = "hubspot"\n[mail]\nfrom_address = "a@b.example"\n'
                    '[[programs]]\nname = "p"\ntype = "nps"\nsource = "hubspot"\ncompany = "A"\n')
    run = subprocess.run([*CLOSEDLOOP, "check", "--config", str(path)],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                         check=False)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert lines == [
        f"error: {path}: daemon.state_url: expected sqlite:///path/to/file.db or "
        "postgresql://user@host/db, got 'mysql://x'",
        f"error: {path}: daemon.poll_every: expected a duration such as '90s', '15m', '1h' or "
        "'2d', got 'soon'",
    ]
    assert "Traceback" not in run.stderr
