"""A sandbox CRM (HubSpot or Zendesk), an SMTP sink and a config file for `closedloop send`
tests (a module of its own: conftest names clash across test folders)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from closedloop.daemon.cli import app
from closedloop.daemon.config import load_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.store import Store
from closedloop.integration.sandbox.hubspot import HubSpotState
from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide
from closedloop.integration.sandbox.zendesk import ZendeskState

TOKEN = "send-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN, "CLOSEDLOOP_ZENDESK_TOKEN": TOKEN,
       "CLOSEDLOOP_SECRET_KEY": "send-secret-key-0123456789abcdef"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toml(table: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in table.items())


@dataclass
class World:
    crm: str
    side: HubSpotSide | ZendeskSide
    sink: LocalMailSink
    config: Path
    state_url: str
    web_port: int

    def person(self, email: str, first: str = "Ada", language: str = "en",
               region: str | None = None) -> str:
        """A contact (HubSpot) or user (Zendesk) the CRM knows; returns its id."""
        return self.side.create_contact(email, first, language, region=region)

    def send(self, *args: str, program: str = "onboarding") -> Result:
        """`closedloop send --program PROGRAM ARGS --config ...` through typer."""
        return CliRunner().invoke(app, ["send", "--program", program, *args,
                                        "--config", str(self.config)], env=ENV)

    def setup(self) -> None:
        """`closedloop setup`: the CRM properties the write-back needs."""
        result = CliRunner().invoke(app, ["setup", "--config", str(self.config)], env=ENV)
        assert result.exit_code == 0, result.output

    def store(self) -> Store:
        store = Store(self.state_url)
        store.migrate()
        return store

    def runtime(self) -> Runtime:
        config = load_config(self.config)
        return build_runtime(config, read_secrets(config, ENV))


def world(crm: str, tmp_path: Path, state_url: str | None = None) -> Iterator[World]:
    """Run the CRM's sandbox and an SMTP sink; write a config with an event-fed CSAT program
    "onboarding" (no delay, a 30-day cooldown, no coalescing) and a ticket-fed one
    "support"; no quiet hours; a region segment."""
    side: HubSpotSide | ZendeskSide
    if crm == "hubspot":
        side = HubSpotSide(HubSpotState(), token=TOKEN, rate_limit_per_10s=0,
                           search_per_second=0)
    else:
        side = ZendeskSide(ZendeskState(), token=TOKEN, rate_limit_per_minute=0,
                           incremental_per_minute=0, search_export_per_minute=0)
    state_url = state_url or f"sqlite:///{tmp_path / 'state.db'}"
    with side, LocalMailSink(port=0) as sink:
        port = free_port()
        source = {**side.source(datetime.now(UTC) - timedelta(days=1)),
                  "retry_attempts": 2, "retry_budget": "2s", "pacing": False}
        config = tmp_path / "config.toml"
        config.write_text(f"""
[daemon]
state_url = {json.dumps(state_url)}
public_url = "http://127.0.0.1:{port}"
listen_port = {port}
log_format = "json"
[sources.{crm}]
{_toml(source)}
[mail]
host = "127.0.0.1"
port = {sink.port}
from_address = "feedback@acme.example"
[rules]
quiet_hours = []
global_cooldown = "0s"
[coalescing]  # the tests run the jobs at once: no work waits for company
answers = "0s"
writeback = "0s"
intake = "0s"
sends = "0s"
[reporting.segments]
region = {json.dumps(side.segments()["region"])}
[[programs]]
name = "onboarding"
type = "csat"
source = "{crm}"
company = "Acme"
delay = "0s"
cooldown = "30d"
coalesce = "0s"
trigger = "event"
[[programs]]
name = "support"
type = "csat"
source = "{crm}"
company = "Acme"
delay = "0s"
""", encoding="utf-8")
        yield World(crm, side, sink, config, state_url, port)
