"""The whole loop's parts, real and local: a sandbox CRM, SMTP sink, SQLite, runtime.

`Loop` is CRM-neutral: a `CrmDriver` per CRM plays the CRM side (people, tickets closing and
reopening, reading back what the daemon wrote), so every end-to-end test runs for HubSpot and
for Zendesk alike (the `loop` fixture is parametrized over `CRMS`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
import time_machine

from closedloop.daemon.config import Config, parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.program_settings import ProgramSettings
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.surveys import Program
from closedloop.integration.sandbox.hubspot import HubSpotState
from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide
from closedloop.integration.sandbox.zendesk import ZendeskState

TOKEN = "e2e-token"
SECRET = "e2e-secret-key-that-is-long-enough-0123456789"
CRMS = ["hubspot", "zendesk"]
NO_WINDOWS = {"answers": "0s", "writeback": "0s", "intake": "0s", "sends": "0s"}


class Clock:
    """A clock the test moves by hand; jobs read it through Runtime.clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class CrmDriver(Protocol):
    """The CRM side of a test: what a customer or an agent does there, and what we can read."""

    crm: str
    support: str  # the pipeline (HubSpot) / brand (Zendesk) of the CSAT program
    billing: str  # the one of the CES program
    contact_write: str  # path prefix of the contact write call, for fail_next
    contact_write_key: str  # its key in the sandbox's call counter
    owner: str | None  # what a closed ticket's owner and team are read as
    team: str | None

    def source(self, start_at: datetime) -> dict[str, Any]: ...
    def secrets(self) -> str: ...
    def create_contact(self, email: str | None, first: str = "Ada", language: str = "en",
                       timezone: str | None = None) -> str: ...
    def close_ticket(self, contact: str, pipeline: str, at: datetime) -> str: ...
    def reopen_ticket(self, ticket: str, at: datetime) -> None: ...
    def solve_again(self, ticket: str, at: datetime) -> None: ...
    def create_member(self, email: str | None, first: str, customer_since: datetime) -> str: ...
    def make_audience(self, name: str, contacts: list[str]) -> dict[str, str]: ...
    def join_audience(self, audience: dict[str, str], contact: str) -> None: ...
    def leave_audience(self, audience: dict[str, str], contact: str) -> None: ...
    def props(self, contact: str) -> dict[str, str]: ...
    def ticket_hooks(self, ticket: str) -> tuple[list[str], list[str]]: ...
    def reassign(self, ticket: str) -> tuple[str, str]: ...
    def ticket_props(self, ticket: str) -> dict[str, str]: ...
    def total_calls(self) -> int: ...
    def reset_calls(self) -> None: ...
    def calls(self, key: str) -> int: ...
    def fail_next(self, n: int, status: int, path_prefix: str,
                  retry_after: float | None = None) -> None: ...


class HubSpotDriver(HubSpotSide):
    crm = "hubspot"
    support, billing = "0", "5"
    contact_write = "/crm/v3/objects/contacts/batch/update"
    contact_write_key = "POST /crm/v3/objects/contacts/batch/update"
    owner, team = "77", "9"

    def __init__(self, start: datetime) -> None:
        super().__init__(HubSpotState.seeded(tickets=30, contacts=20, seed=3,
                                             now=start - timedelta(days=2)),
                         token=TOKEN, rate_limit_per_10s=0)

    def source(self, start_at: datetime) -> dict[str, Any]:
        # Simulated days pass in seconds of real time: the limiter's windows are real time,
        # and this sandbox enforces none, so pacing is off here (tests/daemon pace it).
        return {**super().source(start_at), "retry_attempts": 2, "retry_budget": "2s",
                "pacing": False}

    def secrets(self) -> str:
        return TOKEN

    def close_ticket(self, contact: str, pipeline: str, at: datetime) -> str:
        return self.close_new_ticket(contact, pipeline, at, owner_id=self.owner,
                                     team_id=self.team)

    def reopen_ticket(self, ticket: str, at: datetime) -> None:
        self.state.reopen_ticket(ticket, at=at)

    def solve_again(self, ticket: str, at: datetime) -> None:
        self.state.close_ticket(ticket, at=at)

    def create_member(self, email: str | None, first: str, customer_since: datetime) -> str:
        """A contact in lifecycle stage "customer" since `customer_since`."""
        return self.state.create_contact(email, first, "Doe", "en",
                                         customer_since=customer_since)

    def make_audience(self, name: str, contacts: list[str]) -> dict[str, str]:
        """An NPS audience: a contact list; returns the program keys that select it."""
        return {"list_id": self.state.create_list(name, contacts)}

    def join_audience(self, audience: dict[str, str], contact: str) -> None:
        self.state.add_to_list(audience["list_id"], [contact])

    def leave_audience(self, audience: dict[str, str], contact: str) -> None:
        self.state.remove_from_list(audience["list_id"], [contact])

    def props(self, contact: str) -> dict[str, str]:
        return {k: str(v) for k, v in self.values(contact).items() if v not in (None, "")}

    def ticket_hooks(self, ticket: str) -> tuple[list[str], list[str]]:
        """(tags, private notes) on a ticket: HubSpot tickets have no tags, notes are notes."""
        return [], [str(n["body"]) for n in self.state.notes(ticket_id=ticket)]

    def reassign(self, ticket: str) -> tuple[str, str]:
        """An admin hands the ticket to another owner and team; returns (owner, team)."""
        self.state.assign_ticket(ticket, "88", "10")
        return "88", "10"

    def ticket_props(self, ticket: str) -> dict[str, str]:
        """The ticket's ClosedLoop properties that hold a value."""
        values = self.state.ticket(ticket)["properties"]
        return {k: str(v) for k, v in values.items() if k.startswith("cl_") and v}

    def calls(self, key: str) -> int:
        return self.sandbox.calls[key]

    def fail_next(self, n: int, status: int, path_prefix: str,
                  retry_after: float | None = None) -> None:
        self.sandbox.fail_next(n, status, path_prefix=path_prefix, retry_after=retry_after)


class ZendeskDriver(ZendeskSide):
    crm = "zendesk"
    support, billing = "1", "2"  # brands
    # A write of one or two users is a PUT users/{id}.json each, a bigger one update_many
    # (see integration/zendesk/_single.py): the prefix and the key cover both (write-back
    # reads no user before it writes them).
    contact_write = "/api/v2/users/"
    contact_write_key = "PUT /api/v2/users/"
    owner = None  # the sandbox's tickets are not assigned

    def __init__(self, start: datetime) -> None:
        super().__init__(ZendeskState.seeded(tickets=30, users=20, seed=3,
                                             now=start - timedelta(days=2)),
                         token=TOKEN, rate_limit_per_minute=0, incremental_per_minute=0,
                         search_export_per_minute=0)
        self.team = self.group

    def source(self, start_at: datetime) -> dict[str, Any]:
        return {**super().source(start_at), "retry_attempts": 2, "retry_budget": "2s",
                "job_poll_interval": "20ms", "job_timeout": "5s", "pacing": False}

    def secrets(self) -> str:
        return TOKEN

    def close_ticket(self, contact: str, pipeline: str, at: datetime) -> str:
        return self.close_new_ticket(contact, pipeline, at)

    def reopen_ticket(self, ticket: str, at: datetime) -> None:
        self.state.reopen_ticket(ticket, at=at)

    def solve_again(self, ticket: str, at: datetime) -> None:
        self.state.solve_ticket(ticket, at=at)

    def create_member(self, email: str | None, first: str, customer_since: datetime) -> str:
        """A user created at `customer_since` (the adapter's customer-since for Zendesk)."""
        return self.state.create_user(email, f"{first} Doe", created_at=customer_since)

    def make_audience(self, name: str, contacts: list[str]) -> dict[str, str]:
        """An NPS audience: users carrying the tag `name`; returns the program keys."""
        audience = {"tag": name}
        for contact in contacts:
            self.join_audience(audience, contact)
        return audience

    def join_audience(self, audience: dict[str, str], contact: str) -> None:
        tags = self.state.user(contact).get("tags") or []
        self.state.update_user(int(contact), {"tags": [*tags, audience["tag"]]})

    def leave_audience(self, audience: dict[str, str], contact: str) -> None:
        tags = self.state.user(contact).get("tags") or []
        self.state.update_user(int(contact), {"tags": [t for t in tags if t != audience["tag"]]})

    def props(self, contact: str) -> dict[str, str]:
        return {k: str(v) for k, v in self.values(contact).items() if v not in (None, "")}

    def ticket_hooks(self, ticket: str) -> tuple[list[str], list[str]]:
        """(tags, private notes) on a ticket: its tags and its internal comments."""
        return (list(self.state.ticket(ticket)["tags"]),
                [str(c["body"]) for c in self.state.comments(ticket) if not c["public"]])

    def reassign(self, ticket: str) -> tuple[str, str]:
        """An agent hands the solved ticket to another agent and group; returns them."""
        agent = str(self.state.ensure_agent("tier2@agents.example"))
        group = self.state.create_group("Tier 2")
        self.state.assign_ticket(ticket, agent, group)
        return agent, group

    def ticket_props(self, ticket: str) -> dict[str, str]:
        """Zendesk tickets get no ClosedLoop fields (tags and a note are the hook)."""
        return {}

    def calls(self, key: str) -> int:
        if key == self.contact_write_key:
            return sum(n for k, n in self.sandbox.calls.items() if k.startswith(key))
        return self.sandbox.calls[key]

    def fail_next(self, n: int, status: int, path_prefix: str,
                  retry_after: float | None = None) -> None:
        seconds = None if retry_after is None else max(1, round(retry_after))  # whole seconds
        self.sandbox.fail_next(n, status, path_prefix=path_prefix, retry_after=seconds)


@dataclass
class Loop:
    crm: CrmDriver
    sink: LocalMailSink
    rt: Runtime
    clock: Clock
    config: Config

    @property
    def source(self) -> str:
        """The source's name in the config (the CRM's name)."""
        return self.crm.crm

    def close_ticket(self, email: str | None, first: str = "Ada", language: str = "en",
                     pipeline: str | None = None, contact: str | None = None,
                     timezone: str | None = None, ago: timedelta = timedelta(seconds=30),
                     ) -> tuple[str, str]:
        """A customer's ticket closes `ago` before the clock; returns (ticket id, contact id)."""
        if contact is None:
            contact = self.crm.create_contact(email, first, language, timezone)
        ticket = self.crm.close_ticket(contact, pipeline or self.crm.support,
                                       self.clock.now - ago)
        return ticket, contact

    def reopen(self, ticket: str, ago: timedelta = timedelta(seconds=20)) -> None:
        """The customer writes again: the ticket is open `ago` before the clock."""
        self.crm.reopen_ticket(ticket, self.clock.now - ago)

    def solve_again(self, ticket: str, ago: timedelta = timedelta(seconds=10)) -> None:
        """The same ticket is solved again `ago` before the clock."""
        self.crm.solve_again(ticket, self.clock.now - ago)

    def add_program(self, **settings: Any) -> Program:
        """Add a program to the running daemon, validated like a [[programs]] table (for an
        NPS audience made during the test: a list id the CRM only now knows)."""
        program = ProgramSettings.model_validate({"source": self.source, **settings}).to_program()
        self.rt.programs[program.name] = program
        return program

    def props(self, contact: str) -> dict[str, str]:
        """The contact's (HubSpot) or user's (Zendesk) non-empty property values, as text."""
        return self.crm.props(contact)

    def ticket_hooks(self, ticket: str) -> tuple[list[str], list[str]]:
        """What the answer hooks left on a ticket: (tags, private notes)."""
        return self.crm.ticket_hooks(ticket)

    def prop(self, contact: str, stem: str) -> str:
        """The one value whose name starts with `stem` ("cl_csat_last_sent" is
        cl_csat_last_sent_at in HubSpot, cl_csat_last_sent_on in Zendesk); "" when unset."""
        found = [v for k, v in self.props(contact).items() if k.startswith(stem)]
        assert len(found) <= 1, f"several properties start with {stem}"
        return found[0] if found else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loop_config(tmp_path: Path, crm: CrmDriver, smtp_port: int, web_port: int,
                start_at: datetime, rules: dict[str, Any] | None = None,
                programs: list[dict[str, Any]] | None = None,
                alerts: list[dict[str, Any]] | None = None,
                reporting: dict[str, Any] | None = None,
                themes: dict[str, Any] | None = None, sms: dict[str, Any] | None = None,
                coalescing: dict[str, str] | None = None, **program: Any) -> Config:
    """Two programs on one source: CSAT on the support pipeline, CES on billing.

    No quiet hours by default, so a test's clock may start at any time of day; the rules tests
    set them explicitly.
    """
    source = crm.crm
    return parse_config({
        "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}",
                   "public_url": f"http://127.0.0.1:{web_port}", "listen_port": web_port},
        "sources": {source: crm.source(start_at)},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example",
                 "from_name": "Acme Support"},
        "rules": {"quiet_hours": [], "global_cooldown": "0s", **(rules or {})},
        "programs": programs if programs is not None else [
            {"name": "support-csat", "type": "csat", "source": source, "delay": "1h",
             "company": "Acme", "pipelines": [crm.support], **program},
            {"name": "billing-ces", "type": "ces", "source": source, "delay": "2h",
             "company": "Acme", "pipelines": [crm.billing]},
        ],
        "alerts": alerts or [],
        "reporting": reporting or {},
        # Every coalescing window shut: the tests run each job when they mean it to act
        # (tests/e2e/test_windows_e2e.py pins the windows themselves).
        "coalescing": coalescing if coalescing is not None else NO_WINDOWS,
        **({"themes": themes} if themes is not None else {}),
        **({"sms": sms} if sms is not None else {}),
    })


def make_driver(crm: str, start: datetime) -> Any:
    if crm == "hubspot":
        return HubSpotDriver(start)
    if crm == "zendesk":
        return ZendeskDriver(start)
    raise ValueError(f"no e2e driver for {crm!r}")


@pytest.fixture(params=CRMS)
def crm_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def loop_options() -> dict[str, Any]:
    """Override in a test module to change the loop's config (rules=, programs=, program keys)."""
    return {}


@pytest.fixture
def loop(tmp_path: Path, crm_name: str, loop_options: dict[str, Any]) -> Iterator[Loop]:
    """The whole loop at a fixed instant (time-machine): every run sees the same weekday and
    hour, and the sandboxes, the web app and the jobs agree on the time. The test moves the
    jobs' clock by hand (`loop.clock.advance`); wall time still ticks for timeouts."""
    with time_machine.travel(E2E_START, tick=True):
        yield from _loop(tmp_path, crm_name, loop_options)


# A Wednesday morning in Oslo and mid-morning UTC: inside every default send window.
E2E_START = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)


def _loop(tmp_path: Path, crm_name: str, loop_options: dict[str, Any]) -> Iterator[Loop]:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(start)
    with make_driver(crm_name, start) as crm, LocalMailSink(port=0) as sink:
        port = free_port()
        config = loop_config(tmp_path, crm, sink.port, port, start - timedelta(minutes=10),
                             **loop_options)
        secrets = Secrets(secret_key=SECRET, source_tokens={crm.crm: crm.secrets()})
        rt = build_runtime(config, secrets, clock=clock)
        rt.store.migrate()
        for name, mapping in rt.mappings.items():
            rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
                                                mapping.specs())
        crm.reset_calls()
        web = BackgroundService(rt, port=port)
        web.start(jobs=False)  # the response pages over real HTTP; the test runs the jobs
        try:
            yield Loop(crm, sink, rt, clock, config)
        finally:
            web.stop()
            rt.close()
