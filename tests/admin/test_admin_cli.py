"""`closedloop users add|list|remove|hash` as installed (a subprocess), and `[[users]]` in the
config: scopes checked against `[reporting].scope`, names unique, hashes never shown."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from closedloop.daemon.config import parse_config, redacted
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.passwords import hash_password, verify_password
from closedloop.integration.errors import ConfigError

CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]
PASSWORD = "correct horse battery"
REPORTING = '''
[reporting]
scope = ["region", "store"]
[reporting.segments]
region = "contact.region"
store = "ticket.store"
'''


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "json"
[sources.hubspot]
crm = "hubspot"
base_url = "http://127.0.0.1:9"
[mail]
from_address = "feedback@acme.example"
[[programs]]
name = "nps"
type = "nps"
source = "hubspot"
company = "Acme"
{REPORTING}{extra}""", encoding="utf-8")
    return path


def cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLOSEDLOOP, "users", *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_add_list_remove(tmp_path: Path) -> None:
    """A user added with --password-stdin signs in with that password; list shows it with
    its scope; remove deletes it (and a second remove says there is none, exit 1)."""
    config = write_config(tmp_path)
    added = cli(config, "add", "north", "--scope", "region=north", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert (added.returncode, added.stdout.strip()) == (
        0, "user north added; sees region = north")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    user = Accounts(store).get("north")
    assert user is not None
    assert (user.scope, verify_password(user.password_hash, PASSWORD)) == (
        {"region": ["north"]}, True)
    listed = cli(config, "list")
    assert "north" in listed.stdout
    assert "region = north" in listed.stdout
    assert cli(config, "remove", "north").returncode == 0
    again = cli(config, "remove", "north")
    assert (again.returncode, again.stderr.strip().splitlines()[-1]) == (
        1, "error: no user 'north' in the store (see `closedloop users list`)")
    store.dispose()


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["add", "x", "--scope", "country=no", "--password-stdin"], PASSWORD,
     "error: --scope: unknown scope level 'country'; expected one of: region, store"),
    (["add", "x", "--scope", "oslo", "--password-stdin"], PASSWORD,
     "error: --scope: expected LEVEL=VALUE[,VALUE...] (e.g. region=north) or hq, got 'oslo'"),
    (["add", "x", "--password-stdin"], "short",
     "error: password: a password has at least 10 characters"),
    (["add", "bad name", "--password-stdin"], PASSWORD,
     "error: NAME: 1-64 letters, digits, '_', '.', '@' or '-', got 'bad name'"),
])
def test_bad_users_add_is_one_clear_line(tmp_path: Path, args: list[str], stdin: str,
                                         message: str) -> None:
    """Each mistake is one error line and exit code 2, said before the store is opened."""
    run = cli(write_config(tmp_path), *args, stdin=stdin + "\n")
    assert (run.returncode, run.stderr.strip()) == (2, message)


def config_data(users: list[dict[str, Any]]) -> dict[str, Any]:
    return {"sources": {"hubspot": {"crm": "hubspot"}},
            "mail": {"from_address": "feedback@acme.example"},
            "programs": [{"name": "nps", "type": "nps", "source": "hubspot", "company": "A"}],
            "reporting": {"scope": ["region", "store"],
                          "segments": {"region": "contact.region", "store": "ticket.store"}},
            "users": users}


def test_config_users_are_checked() -> None:
    """An unknown level, two levels, a duplicate name and a non-argon2 hash: one line each."""
    digest = hash_password(PASSWORD)
    with pytest.raises(ConfigError) as info:
        parse_config(config_data([
            {"name": "a", "password_hash": digest, "scope": {"country": "no"}},
            {"name": "b", "password_hash": digest, "scope": {"region": "n", "store": "o"}},
            {"name": "b", "password_hash": digest},
            {"name": "c", "password_hash": "plain"},
        ]), "config.toml")
    assert info.value.problems == [
        "config.toml: users[3].password_hash: expected an argon2 hash (\"$argon2id$...\"); "
        "make one with `closedloop users hash` (got 'plain')",
        "config.toml: users[0].scope: unknown scope level 'country'; expected one of: "
        "region, store",
        "config.toml: users[1].scope: a scope names one level, got 2: region, store",
        "config.toml: users[2].name: 'b' is used by an earlier user",
    ]


def test_config_users_load_and_config_show_hides_the_hash() -> None:
    """A valid [[users]] loads; `config show` prints *** for its hash."""
    digest = hash_password(PASSWORD)
    config = parse_config(config_data([{"name": "hq", "password_hash": digest},
                                       {"name": "o", "password_hash": digest,
                                        "scope": {"store": "oslo"}}]))
    assert [u.name for u in config.users] == ["hq", "o"]
    assert [u["password_hash"] for u in redacted(config)["users"]] == ["***", "***"]


def test_example_users_parse_when_uncommented() -> None:
    """The commented [[users]] example in config.example.toml is valid as written."""
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text("utf-8")
    block = text[text.index("# [[users]]"):text.index("# Reporting (")]
    lines = [line.removeprefix("# ").split("  #")[0] for line in block.splitlines()
             if line.startswith("# [[users]]") or re.match(r"# [a-z_]+ = ", line)]
    users = tomllib.loads("\n".join(lines))["users"]
    config = parse_config(config_data(users))
    assert [(u.name, u.scope) for u in config.users] == [("hq", {}),
                                                         ("north", {"region": "north"})]
