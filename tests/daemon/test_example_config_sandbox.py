"""config.example.toml, edited as the README's "Try it against the sandboxes" says, passes
`closedloop setup` and `closedloop check --online` against the seeded sandboxes: its
pipelines and its NPS list exist there, so a new admin's first run is green."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.hubspot import seed as hubspot_seed
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.sandbox.zendesk import seed as zendesk_seed

ROOT = Path(__file__).resolve().parents[2]
# The sandboxes' fixed tokens, as the README tells the admin to export them.
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": hubspot_seed.DEFAULT_TOKEN,
       "CLOSEDLOOP_ZENDESK_TOKEN": zendesk_seed.DEFAULT_TOKEN,
       "CLOSEDLOOP_SECRET_KEY": "readme-secret-0123456789abcdef"}


@pytest.fixture
def sandboxes() -> Iterator[tuple[HubSpotSandbox, ZendeskSandbox]]:
    """Seeded as `closedloop sandbox hubspot|zendesk` seed them (fewer tickets)."""
    with HubSpotSandbox(HubSpotState.seeded(tickets=20, contacts=40, seed=1)) as hs, \
            ZendeskSandbox(ZendeskState.seeded(tickets=20, seed=1)) as zd:
        yield hs, zd


def set_line(text: str, key: str, new: str) -> str:
    """Replace the one uncommented `key = ...` line (failing loudly if the example changed)."""
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE)
    assert len(pattern.findall(text)) == 1, key
    return pattern.sub(lambda _: new, text)


def sandbox_config(tmp_path: Path, hs: HubSpotSandbox, zd: ZendeskSandbox,
                   listen_port: int = 8080, smtp_port: int = 1025) -> str:
    """The README's edits, applied to the example config (the sandboxes' ports are free
    ones here; the README's are 8021 and 8022)."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = set_line(text, "state_url", f'state_url = "sqlite:///{tmp_path / "closedloop.db"}"')
    text = set_line(text, "public_url", 'public_url = "http://127.0.0.1:8080"')
    text = set_line(text, "base_url", f'base_url = "{hs.url}"')
    text = set_line(text, "subdomain", f'subdomain = "sandbox"\nbase_url = "{zd.url}"')
    text = set_line(text, "email", 'email = "agent@sandbox.example"')
    text = set_line(text, "host", 'host = "127.0.0.1"')
    text = set_line(text, "listen_port", f"listen_port = {listen_port}")
    text = set_line(text, "port", f"port = {smtp_port}")
    text = set_line(text, "security", 'security = "none"')
    text = set_line(text, "username", "")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_example_config_passes_setup_and_online_check_against_the_sandboxes(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """setup creates the properties and user fields; then check --online is all green,
    which includes the NPS program's list (GET /crm/v3/lists/42)."""
    hs, zd = sandboxes
    config = sandbox_config(tmp_path, hs, zd)
    runner = CliRunner()
    setup = runner.invoke(app, ["setup", "--config", config], env=ENV)
    assert setup.exit_code == 0, setup.output
    check = runner.invoke(app, ["check", "--online", "--config", config], env=ENV)
    assert check.exit_code == 0, check.output
    assert "error" not in check.output
    assert hs.calls_snapshot()["calls"].get("GET /crm/v3/lists/{listId}", 0) >= 1


def test_every_id_the_example_names_is_seeded_in_the_sandbox(
        sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """The programs' pipelines and NPS list are the sandbox's, and the list holds its
    customers (the contacts in lifecycle stage "customer")."""
    from closedloop.daemon.config import load_config

    hs, _ = sandboxes
    config = load_config(ROOT / "config.example.toml")
    pipelines = {p["id"] for p in hs.state.pipelines}
    for program in config.programs:
        assert set(program.pipelines) <= pipelines, program.name
    lists = [p.list_id for p in config.programs if p.list_id]
    assert lists == [hubspot_seed.CUSTOMERS_LIST_ID]
    members = set(hs.state.lists[hubspot_seed.CUSTOMERS_LIST_ID].members)
    customers = {cid for cid, c in hs.state.contacts.items()
                 if c.props["lifecyclestage"] == "customer"}
    assert (members == customers, bool(customers)) == (True, True)


def test_a_list_the_sandbox_lacks_fails_the_online_check(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """The other side: an NPS list id the sandbox does not have is named by check --online."""
    hs, zd = sandboxes
    config = Path(sandbox_config(tmp_path, hs, zd))
    config.write_text(set_line(config.read_text(encoding="utf-8"), "list_id",
                               'list_id = "43"'), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["setup", "--config", str(config)], env=ENV).exit_code == 0
    check = runner.invoke(app, ["check", "--online", "--config", str(config)], env=ENV)
    assert check.exit_code == 1
    assert "error: sources.hubspot: contact list '43' does not exist\n" in check.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthcheck_command(port: int) -> list[str]:
    """The Containerfile's HEALTHCHECK command (exec form), aimed at `port`."""
    line = next(x for x in (ROOT / "Containerfile").read_text(encoding="utf-8").splitlines()
                if x.strip().startswith("CMD [") and "/healthz" in x)
    command: list[str] = json.loads(line.strip().removeprefix("CMD "))
    assert command[0] == "python"
    return [sys.executable, *(c.replace(":8080/", f":{port}/") for c in command[1:])]


@pytest.mark.slow
def test_the_daemon_run_from_the_example_answers_the_container_healthcheck(
        tmp_path: Path, sandboxes: tuple[HubSpotSandbox, ZendeskSandbox]) -> None:
    """`closedloop run` on the example config (sandboxes, a local mail catcher) serves
    /healthz: the Containerfile's HEALTHCHECK command succeeds against it, and fails once
    the daemon has stopped."""
    hs, zd = sandboxes
    port = _free_port()
    with LocalMailSink() as sink:
        config = sandbox_config(tmp_path, hs, zd, listen_port=port, smtp_port=sink.port)
        assert CliRunner().invoke(app, ["setup", "--config", config], env=ENV).exit_code == 0
        daemon = subprocess.Popen(
            [sys.executable, "-m", "closedloop.daemon", "run", "--config", config],
            env={**os.environ, **ENV}, cwd=tmp_path, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert daemon.poll() is None, daemon.communicate()[1][-3000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the daemon did not serve /healthz"
                time.sleep(0.2)
            alive = subprocess.run(_healthcheck_command(port), capture_output=True,
                                   timeout=30, check=False)
            assert alive.returncode == 0, alive.stderr
        finally:
            daemon.terminate()
            daemon.communicate(timeout=60)
    assert daemon.returncode == 0
    dead = subprocess.run(_healthcheck_command(port), capture_output=True, timeout=30,
                          check=False)
    assert dead.returncode != 0
