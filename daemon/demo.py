"""`closedloop demo`: the whole loop on embedded defaults, in under a minute, with no account.

A sandbox HubSpot, a local mail sink and the real daemon (scheduler + web app) on SQLite in
a temporary folder. Tickets close, surveys go out after a compressed delay, simulated
customers open their mail and click the real links over HTTP, and the answers land on the
sandbox's contact records. Nothing here is faked: only the people are simulated.
"""

from __future__ import annotations

import random
import re
import secrets
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from daemon.config import Config, Secrets, parse_config
from daemon.delivery.sink import LocalMailSink
from daemon.runtime import Runtime, build_runtime
from daemon.service import BackgroundService
from integration.errors import ClosedLoopError
from integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

SANDBOX_TOKEN = "sandbox-token"  # noqa: S105 (the sandbox's published demo token)
LINK = re.compile(r"https?://[^\s\"'<>]+/r/[A-Za-z0-9._-]+/\d+")

# (subject, first name, e-mail, language, pipeline): the people whose tickets close.
CUSTOMERS = [
    ("Cannot log in after password reset", "Emma", "emma.wilson@example.com", "en", "0"),
    ("Facture en double", "Camille", "camille.dubois@example.fr", "fr", "5"),
    ("Export to CSV fails", "Liam", "liam.brown@example.com", "en", "0"),
    ("Erreur lors de la synchronisation", "Léa", "lea.martin@example.fr", "fr", "0"),
    ("Refund not received", "Noah", "noah.taylor@example.com", "en", "5"),
    ("Kan ikke endre passord", "Ingrid", "ingrid.hansen@example.no", "nb", "0"),
    ("API returns 500 on upload", "Olivia", "olivia.moore@example.com", "en", "0"),
    ("Rechnung fehlt", "Lukas", "lukas.schmidt@example.de", "de", "5"),
    ("No puedo exportar", "Sofía", "sofia.garcia@example.es", "es", "0"),
    ("Slow dashboard", "Ava", "ava.clark@example.com", "en", "0"),
    ("Question about invoice", "Mia", "", "en", "5"),  # no address: skipped, with a reason
    ("Integration keeps disconnecting", "Ethan", "ethan.hall@example.com", "en", "0"),
]


@dataclass
class DemoReport:
    """What happened, as the table and --json show it."""

    tickets_closed: int = 0
    tickets_seen: int = 0
    surveys_sent: int = 0
    surveys_skipped: dict[str, int] = field(default_factory=dict)
    scanner_fetches: int = 0
    answers: int = 0
    comments: int = 0
    answers_recorded: int = 0
    contacts_updated: int = 0
    properties_written: int = 0
    setup_api_calls: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DemoFailed(ClosedLoopError):
    """A stage of the demo did not finish in time (the message says which)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_config(state_dir: Path, sandbox_url: str, smtp_port: int, web_port: int,
                start_at: datetime) -> Config:
    return parse_config({
        "daemon": {
            "state_url": f"sqlite:///{state_dir / 'closedloop.db'}",
            "public_url": f"http://127.0.0.1:{web_port}",
            "listen_port": web_port,
        },
        "sources": {"hubspot": {"crm": "hubspot", "base_url": sandbox_url,
                                "start_at": start_at.isoformat()}},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example",
                 "from_name": "Acme Support", "reply_to": "support@acme.example"},
        # The demo compresses days into seconds: quiet hours would hold every survey at night.
        "rules": {"quiet_hours": []},
        "programs": [
            {"name": "support-csat", "type": "csat", "source": "hubspot", "delay": "1s",
             "company": "Acme", "pipelines": ["0"],
             "follow_up": "What is the main reason for your score?"},
            {"name": "billing-ces", "type": "ces", "source": "hubspot", "delay": "1s",
             "company": "Acme", "pipelines": ["5"]},
        ],
    }, "demo")


def _wait(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def _links(message: EmailMessage) -> list[str]:
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return LINK.findall(text)


def _answer(rt: Runtime, client: httpx.Client, link: str, rng: random.Random,
            report: DemoReport) -> None:
    """A customer clicks a score; a mail scanner fetched the link first and counted for nothing."""
    before = rt.store.counts()["responses"]
    client.head(link)
    client.get(link)  # the landing page: a browser would now run its script, which POSTs
    if rt.store.counts()["responses"] != before:
        raise DemoFailed("a scanner-like GET recorded an answer")
    report.scanner_fetches += 1
    answered = client.post(link, follow_redirects=True)
    answered.raise_for_status()
    report.answers += 1
    if rng.random() < 0.6:
        comment = rng.choice(["Quick and friendly, thanks!", "Took three e-mails to get an answer.",
                              "Merci, c'est réglé.", "The fix works."])
        client.post(str(answered.url), data={"comment": comment},
                    follow_redirects=True).raise_for_status()
        report.comments += 1


def run_demo(seed: int = 7, timeout: float = 45.0) -> DemoReport:
    """Run the loop once and report; raises DemoFailed if a stage does not finish in time."""
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 (simulated customers, not secrets)
    report = DemoReport()
    now = datetime.now(UTC)
    state = HubSpotState.seeded(tickets=20, contacts=15, seed=seed, now=now - timedelta(days=3))
    with tempfile.TemporaryDirectory(prefix="closedloop-demo-") as tmp, \
            HubSpotSandbox(state, token=SANDBOX_TOKEN) as sandbox:
        sink = LocalMailSink(port=0)
        sink.start()
        web_port = _free_port()
        config = demo_config(Path(tmp), sandbox.url, sink.port, web_port, now)
        secrets_ = Secrets(secret_key=secrets.token_urlsafe(32),
                           source_tokens={"hubspot": SANDBOX_TOKEN})
        rt = build_runtime(config, secrets_)
        rt.store.migrate()
        rt.adapters["hubspot"].ensure_properties(
            rt.mappings["hubspot"].group_name, rt.mappings["hubspot"].group_label,
            rt.mappings["hubspot"].specs())
        report.setup_api_calls = sandbox.total_calls()
        sandbox.reset_calls()  # the loop's own calls from here on
        service = BackgroundService(rt, port=web_port, every=timedelta(milliseconds=500))
        service.start()
        try:
            contact_ids = _run_customers(rt, state, sink, rng, report, timeout)
            _fill_counts(rt, state, sandbox, contact_ids, report)
        finally:
            service.stop()
            sink.stop()
            rt.store.dispose()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _run_customers(rt: Runtime, state: HubSpotState, sink: LocalMailSink, rng: random.Random,
                   report: DemoReport, timeout: float) -> list[str]:
    expected = sum(1 for c in CUSTOMERS if c[2])
    contact_ids = []
    for subject, first, address, language, pipeline in CUSTOMERS:
        contact = state.create_contact(address or None, first, "", language)
        contact_ids.append(contact)
        ticket = state.create_ticket(subject, contact, pipeline=pipeline)
        state.close_ticket(ticket, at=datetime.now(UTC))
        report.tickets_closed += 1
    if not _wait(lambda: len(sink.messages) >= expected, timeout):
        raise DemoFailed(f"only {len(sink.messages)} of {expected} surveys arrived in time")
    with httpx.Client(timeout=10) as client:
        for message in list(sink.messages):
            links = _links(message)
            if links and rng.random() < 0.85:  # some people never answer
                _answer(rt, client, rng.choice(links), rng, report)
    if not _wait(lambda: rt.store.counts().get("writebacks.pending", 0) == 0
                 and rt.store.counts().get("responses", 0) >= report.answers, timeout):
        raise DemoFailed("the answers were not written back to the CRM in time")
    if rt.store.counts()["writebacks.rejected"]:
        raise DemoFailed("HubSpot refused some write-backs (see the log)")
    return contact_ids


def _fill_counts(rt: Runtime, state: HubSpotState, sandbox: HubSpotSandbox,
                 contact_ids: list[str], report: DemoReport) -> None:
    counts = rt.store.counts()
    report.surveys_sent = counts.get("sends.sent", 0)
    report.surveys_skipped = {k.removeprefix("skipped."): v for k, v in counts.items()
                              if k.startswith("skipped.")}
    report.tickets_seen = report.surveys_sent + sum(report.surveys_skipped.values())
    report.answers_recorded = counts.get("responses", 0)
    names = set(rt.mappings["hubspot"].property_names())
    written = [[k for k, v in state.contact(c)["properties"].items() if k in names and v]
               for c in contact_ids]
    report.contacts_updated = sum(1 for props in written if props)
    report.properties_written = sum(len(props) for props in written)
    report.api_calls = sandbox.total_calls()
    report.api_calls_by_endpoint = dict(sorted(sandbox.calls.items()))

