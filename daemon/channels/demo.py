"""`closedloop demo --channels`, the SMS part: surveys texted and answered by reply.

A sandbox CRM whose people have phone numbers, the bundled Twilio sandbox gateway, the real
daemon (its web app over HTTP, its jobs called in turn) on SQLite in a temporary folder.
Tickets close; the SMS program texts each person through the official `twilio` client; the
simulated people reply as people do ("5 great service", "4", "Arrêt", "hmm", then "3"), each
reply POSTed to the daemon's webhook signed as Twilio signs it; Twilio reports deliveries;
the answers land on the CRM records. Only the people are simulated.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.table import Table

from closedloop.daemon.channels.phones import to_e164
from closedloop.daemon.config import Config, parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.demo import DemoCrm, DemoFailed, demo_crm
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.windows import SHUT_TABLE
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.integration.sandbox.twilio import TwilioSandbox

# (first name, e-mail, language, number as the CRM keeps it, replies in order)
PEOPLE: list[tuple[str, str | None, str, str, tuple[str, ...]]] = [
    ("Emma", "emma.wilson@example.com", "en", "(415) 555-0142", ("5 great service",)),
    ("Ingrid", None, "nb", "+47 912 34 567", ("4",)),
    ("Camille", "camille.dubois@example.fr", "fr", "+33 6 12 34 56 78", ("Arrêt",)),
    ("Lukas", "lukas.schmidt@example.de", "de", "+49 151 2345 6789", ("hmm", "3")),
    ("Liam", "liam.brown@example.com", "en", "12-34", ()),  # not a number: skipped
]


@dataclass
class SmsDemoReport:
    """What happened, as the demo's table and --json show it."""

    crm: str
    texts_sent: int = 0
    segments_sent: int = 0
    skipped_invalid_phone: int = 0
    replies: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    answers_in_crm: int = 0
    unsubscribed: int = 0
    twilio_calls: int = 0
    example_text: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[tuple[str, object]]:
        return [("texts sent (one segment each)", self.texts_sent),
                ("segments sent", self.segments_sent),
                ("skipped: invalid phone number", self.skipped_invalid_phone),
                ("replies by meaning", ", ".join(f"{k} {v}" for k, v in
                                                 sorted(self.replies.items()))),
                ("delivery callbacks: delivered", self.delivered),
                (f"answers on the {self.crm} records", self.answers_in_crm),
                ("unsubscribed by text (their e-mail too)", self.unsubscribed),
                ("Twilio API calls", self.twilio_calls),
                ("a text", self.example_text)]


def sms_table(report: SmsDemoReport, label: str) -> Table:
    """The SMS demo's table for the terminal."""
    table = Table(title=f"SMS surveys (sandbox Twilio, sandbox {label})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for what, value in report.rows():
        table.add_row(what, str(value))
    return table


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sms_demo_config(state_dir: Path, crm: DemoCrm, twilio: TwilioSandbox, smtp_port: int,
                    web_port: int, start_at: datetime) -> Config:
    source = crm.name
    return parse_config({
        "daemon": {"state_url": f"sqlite:///{state_dir / 'closedloop.db'}",
                   "public_url": f"http://127.0.0.1:{web_port}", "listen_port": web_port},
        "sources": {source: {**crm.source(start_at), "pacing": False}},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example"},
        "rules": {"quiet_hours": [], "global_cooldown": "0s"},
        "coalescing": SHUT_TABLE,  # the demo runs in seconds: no work waits for company
        "sms": {"account_sid": twilio.account_sid, "from_number": "+15005550006",
                "base_url": twilio.url, "default_region": "US"},
        "programs": [{"name": "support-sms", "type": "csat", "source": source, "delay": "1s",
                      "company": "Acme", "pipelines": [crm.queues["support"]],
                      "channel": "sms"}],
    }, "demo --channels")


def run_sms_demo(seed: int = 7, timeout: float = 30.0,
                 crm_name: str = "hubspot") -> SmsDemoReport:
    """Run the SMS loop once; raises DemoFailed if a stage does not finish."""
    started = time.monotonic()
    report = SmsDemoReport(crm=crm_name)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="closedloop-sms-demo-") as tmp, \
            demo_crm(crm_name, seed, now) as crm, TwilioSandbox() as twilio, \
            LocalMailSink(port=0) as sink:
        web_port = _free_port()
        config = sms_demo_config(Path(tmp), crm, twilio, sink.port, web_port,
                                 now - timedelta(minutes=5))
        rt = build_runtime(config, Secrets(
            secret_key=SecretStr(secrets.token_urlsafe(32)),
            source_tokens={crm.name: SecretStr(crm.token)},
            sms_auth_token=SecretStr(twilio.auth_token)))
        try:
            rt.store.migrate()
            mapping = rt.mappings[crm.name]
            rt.adapters[crm.name].ensure_properties(mapping.group_name, mapping.group_label,
                                                    mapping.specs())
            service = BackgroundService(rt, port=web_port)
            service.start(jobs=False)
            try:
                contacts = _text_people(rt, crm, twilio, now, timeout)
                _reply(rt, twilio, f"http://127.0.0.1:{web_port}/hooks/twilio/inbound", report)
                rt.write_back()
                _count(rt, crm, twilio, contacts, report)
            finally:
                service.stop()
        finally:
            rt.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _text_people(rt: Runtime, crm: DemoCrm, twilio: TwilioSandbox, now: datetime,
                 timeout: float) -> list[str]:
    contacts = []
    for first, email, language, phone, _ in PEOPLE:
        contact = crm.create_contact(email, first, language, phone=phone)
        crm.close_new_ticket(contact, crm.queues["support"], now - timedelta(minutes=2))
        contacts.append(contact)
    deadline = time.monotonic() + timeout
    wanted = sum(1 for p in PEOPLE if p[4])
    while len(twilio.messages) < wanted:
        if time.monotonic() > deadline:
            raise DemoFailed(f"{len(twilio.messages)} of {wanted} texts sent in {timeout:.0f} s")
        rt.poll()
        rt.dispatch()
        time.sleep(0.2)
    for message in list(twilio.messages):
        twilio.deliver(message.sid, "sent")
        twilio.deliver(message.sid, "delivered")
    return contacts


def _reply(rt: Runtime, twilio: TwilioSandbox, url: str, report: SmsDemoReport) -> None:
    """Each person texts their replies back, signed as Twilio signs them."""
    for _, _, _, phone, replies in PEOPLE:
        for text in replies:
            status, _ = twilio.inbound(to_e164(phone, "US"), text, url)
            if status != 200:
                raise DemoFailed(f"the reply webhook answered {status}")


def _count(rt: Runtime, crm: DemoCrm, twilio: TwilioSandbox, contacts: list[str],
           report: SmsDemoReport) -> None:
    counts = rt.store.counts()
    report.texts_sent = counts.get("sms.sent", 0)
    report.segments_sent = counts.get("sms.segments_sent", 0)
    report.skipped_invalid_phone = counts.get("skipped.invalid_phone", 0)
    report.replies = {k.removeprefix("sms.replies."): v for k, v in counts.items()
                      if k.startswith("sms.replies.")}
    report.delivered = counts.get("sms.delivery.delivered", 0)
    report.unsubscribed = report.replies.get("stop", 0)
    report.answers_in_crm = sum(
        1 for c in contacts if any(k.startswith("cl_csat_last_rating") and v
                                   for k, v in crm.values(c).items()))
    report.twilio_calls = twilio.total_calls()
    report.example_text = twilio.messages[0].body if twilio.messages else ""
