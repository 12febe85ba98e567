"""The whole loop's parts, real and local: sandbox HubSpot, SMTP sink, SQLite, runtime."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config, Secrets, parse_config
from daemon.delivery.sink import LocalMailSink
from daemon.runtime import Runtime, build_runtime
from daemon.service import BackgroundService
from integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "e2e-token"
SECRET = "e2e-secret-key-that-is-long-enough-0123456789"


class Clock:
    """A clock the test moves by hand; jobs read it through Runtime.clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Loop:
    state: HubSpotState
    sandbox: HubSpotSandbox
    sink: LocalMailSink
    rt: Runtime
    clock: Clock
    config: Config

    def close_ticket(self, email: str | None, first: str = "Ada", language: str = "en",
                     pipeline: str = "0", contact: str | None = None) -> tuple[str, str]:
        if contact is None:
            contact = self.state.create_contact(email, first, "Doe", language)
        ticket = self.state.create_ticket("Printer on fire", contact, pipeline=pipeline,
                                          owner_id="77", team_id="9")
        self.state.close_ticket(ticket, at=self.clock.now - timedelta(seconds=30))
        return ticket, contact


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loop_config(tmp_path: Path, sandbox_url: str, smtp_port: int, web_port: int,
                start_at: datetime, **program: Any) -> Config:
    return parse_config({
        "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}",
                   "public_url": f"http://127.0.0.1:{web_port}", "listen_port": web_port},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": sandbox_url,
                                "start_at": start_at.isoformat(), "retry_attempts": 2,
                                "retry_budget": "2s"}},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example",
                 "from_name": "Acme Support"},
        "programs": [
            {"name": "support-csat", "type": "csat", "source": "hubspot", "delay": "1h",
             "company": "Acme", "pipelines": ["0"], **program},
            {"name": "billing-ces", "type": "ces", "source": "hubspot", "delay": "2h",
             "company": "Acme", "pipelines": ["5"]},
        ],
    })


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(start)
    state = HubSpotState.seeded(tickets=30, contacts=20, seed=3, now=start - timedelta(days=2))
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0) as sandbox, \
            LocalMailSink(port=0) as sink:
        port = free_port()
        config = loop_config(tmp_path, sandbox.url, sink.port, port, start - timedelta(minutes=10))
        secrets = Secrets(secret_key=SECRET, source_tokens={"hubspot": TOKEN})
        rt = build_runtime(config, secrets, clock=clock)
        rt.store.migrate()
        mapping = rt.mappings["hubspot"]
        rt.adapters["hubspot"].ensure_properties(mapping.group_name, mapping.group_label,
                                                 mapping.specs())
        sandbox.reset_calls()
        web = BackgroundService(rt, port=port)
        web.start(jobs=False)  # the response pages over real HTTP; the test runs the jobs
        try:
            yield Loop(state, sandbox, sink, rt, clock, config)
        finally:
            web.stop()
            rt.store.dispose()
