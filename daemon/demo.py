"""`closedloop demo`: the whole loop on embedded defaults, in under a minute, with no account.

A sandbox HubSpot or Zendesk, a local mail sink and the real daemon (scheduler + web app)
on SQLite in a temporary folder. Tickets close, surveys go out after a compressed delay, simulated
customers open their mail and click the real links over HTTP, and the answers land on the
sandbox's contact records. The loop then closes: an unhappy answer becomes a follow-up in the
CRM (read back from the sandbox), a Slack-format alert and signed webhooks, posted to a local
receiver the demo starts (daemon.demo_receiver). Nothing here is faked: only the people are
simulated.
"""

from __future__ import annotations

import random
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, cast

import httpx
from pydantic import SecretStr

from closedloop.daemon.config import Config, parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.demo_receiver import DemoReceiver, demo_secret
from closedloop.daemon.demo_report import (
    WEBHOOK,
    WORDS,
    DemoReport,
    count_actions,
    count_hooks,
    fill_counts,
)
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.insight.rates import summary_lines
from closedloop.daemon.jobs.windows import SHUT_TABLE
from closedloop.daemon.runtime import Runtime, build_runtime, utcnow
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.store.answers import HOOK_SETTLE
from closedloop.daemon.triggers.sandbox import aim, fire
from closedloop.daemon.web.admin.demo import prepare_dashboard
from closedloop.integration.errors import ClosedLoopError
from closedloop.integration.sandbox._seed import STORES
from closedloop.integration.sandbox.hubspot import HubSpotState
from closedloop.integration.sandbox.hubspot.seed import OWNER_IDS
from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide
from closedloop.integration.sandbox.zendesk import ZendeskState

LINK = re.compile(r"https?://[^\s\"'<>]+/r/[A-Za-z0-9._-]+/\d+")

# (subject, first name, e-mail, language, queue, store): the people whose tickets close,
# and the store each ticket is about; a person's region is their store's (_seed.STORES).
CUSTOMERS = [
    ("Cannot log in after password reset", "Emma", "emma.wilson@example.com", "en", "support",
     "london"),
    ("Facture en double", "Camille", "camille.dubois@example.fr", "fr", "billing", "paris"),
    ("Export to CSV fails", "Liam", "liam.brown@example.com", "en", "support", "dublin"),
    ("Erreur lors de la synchronisation", "Léa", "lea.martin@example.fr", "fr", "support",
     "paris"),
    ("Refund not received", "Noah", "noah.taylor@example.com", "en", "billing", "london"),
    ("Kan ikke endre passord", "Ingrid", "ingrid.hansen@example.no", "nb", "support", "oslo"),
    ("API returns 500 on upload", "Olivia", "olivia.moore@example.com", "en", "support",
     "stockholm"),
    ("Rechnung fehlt", "Lukas", "lukas.schmidt@example.de", "de", "billing", "berlin"),
    ("No puedo exportar", "Sofía", "sofia.garcia@example.es", "es", "support", "madrid"),
    ("Slow dashboard", "Ava", "ava.clark@example.com", "en", "support", "bergen"),
    ("Question about invoice", "Mia", "", "en", "billing", "munich"),  # no address: skipped
    ("Integration keeps disconnecting", "Ethan", "ethan.hall@example.com", "en", "support",
     "oslo"),
]
DEMO_CRMS = ("hubspot", "zendesk")
# The demo's day lasts seconds: read Zendesk's job statuses more often than a daemon would.
SPEED_UPS: dict[str, dict[str, str]] = {"zendesk": {"job_poll_interval": "100ms"}}
TRIGGERED = "onboarding-ces"  # --channels: the program a CRM webhook asks for
UNHAPPY = "Took three e-mails to get an answer."  # the one customer who always answers 1


class DemoCrm(Protocol):
    """The sandbox CRM side of the demo: where tickets close and answers land."""

    name: str
    label: str
    queues: dict[str, str]  # "support"/"billing" -> pipeline (HubSpot) or brand (Zendesk) id
    token: str

    def calls_by_endpoint(self) -> dict[str, int]: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...
    def source(self, start_at: datetime) -> dict[str, Any]: ...
    def segments(self) -> dict[str, str]: ...
    def create_contact(self, email: str | None, first: str = "Ada", language: str = "en",
                       timezone: str | None = None, last: str = "Doe",
                       region: str | None = None, phone: str | None = None) -> str: ...
    def close_new_ticket(self, contact: str, queue: str, at: datetime, *,
                         subject: str = ..., store: str | None = None) -> str: ...
    def values(self, contact: str) -> dict[str, Any]: ...
    def total_calls(self) -> int: ...
    def reset_calls(self) -> None: ...


def demo_crm(name: str, seed: int, now: datetime) -> DemoCrm:
    if name == "zendesk":
        # The demo squeezes hours into seconds and polls twice a second: Zendesk's 10 export
        # calls a minute would only slow it down, so this sandbox does not enforce them.
        return ZendeskSide(ZendeskState.seeded(tickets=20, users=15, seed=seed,
                                               now=now - timedelta(days=3)),
                           incremental_per_minute=0)
    if name == "hubspot":
        return HubSpotSide(HubSpotState.seeded(tickets=20, contacts=15, seed=seed,
                                               now=now - timedelta(days=3)))
    raise DemoFailed(f"no demo for CRM {name!r}; expected one of {', '.join(DEMO_CRMS)}")


class DemoFailed(ClosedLoopError):
    """A stage of the demo did not finish in time (the message says which)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_config(state_dir: Path, crm: DemoCrm, smtp_port: int, web_port: int,
                start_at: datetime, receiver_url: str = "http://127.0.0.1:9",
                channels: bool = False) -> Config:
    source = crm.name
    # --channels: a program the CRM's automation feeds (POST /hooks/<source>, daemon/triggers)
    event = [{"name": TRIGGERED, "type": "ces", "source": source, "delay": "1s",
              "company": "Acme", "trigger": "event"}] if channels else []
    # Unhappy CSAT answers become work: HubSpot tasks go to the ticket's owner, else this one.
    owner = {"owner": OWNER_IDS[1]} if source == "hubspot" else {}
    return parse_config({
        "daemon": {
            "state_url": f"sqlite:///{state_dir / 'closedloop.db'}",
            "public_url": f"http://127.0.0.1:{web_port}",
            "listen_port": web_port,
        },
        "sources": {source: {**crm.source(start_at), **SPEED_UPS.get(source, {}),
                             "triggers": channels}},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example",
                 "from_name": "Acme Support", "reply_to": "support@acme.example"},
        # The demo compresses days into seconds: quiet hours would hold every survey at night.
        "rules": {"quiet_hours": []},
        # The demo runs the loop in seconds: no work waits for company.
        "coalescing": SHUT_TABLE,
        "programs": [
            {"name": "support-csat", "type": "csat", "source": source, "delay": "1s",
             "company": "Acme", "pipelines": [crm.queues["support"]],
             "follow_up": {"categories": ["unsatisfied"], "deadline": "4h", **owner,
                           "question": "What is the main reason for your score?"}},
            {"name": "billing-ces", "type": "ces", "source": source, "delay": "1s",
             "company": "Acme", "pipelines": [crm.queues["billing"]]},
            *event,
        ],
        "alerts": [{"name": "unhappy-customers", "categories": ["unsatisfied"],
                    "channel": "slack", "url": f"{receiver_url}/slack"}],
        # The secret itself is handed over in Secrets (run_demo), not read from this variable.
        "webhooks": [{"name": WEBHOOK, "url": f"{receiver_url}/webhooks",
                      "secret_env": "CLOSEDLOOP_DEMO_WEBHOOK_SECRET"}],
        # Each answer carries its customer's region and its ticket's store, captured when
        # the survey is queued: reports slice by them, dashboard users are scoped by them.
        "reporting": {"segments": crm.segments(), "scope": ["region", "store"]},
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
            report: DemoReport, comment: str | None = None) -> None:
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
    if comment is None and rng.random() < 0.6:
        comment = rng.choice(["Quick and friendly, thanks!", "Took three e-mails to get an answer.",
                              "Merci, c'est réglé.", "The fix works."])
    if comment is not None:
        client.post(str(answered.url), data={"comment": comment},
                    follow_redirects=True).raise_for_status()
        report.comments += 1


def run_demo(seed: int = 7, timeout: float = 45.0, crm_name: str = "hubspot",
             hold: Callable[[DemoReport], None] | None = None,
             channels: bool = False) -> DemoReport:
    """Run the loop once and report; raises DemoFailed if a stage does not finish in time.

    `hold` is called with the report while the daemon still serves (the dashboard's URL
    works until it returns): `closedloop demo --serve` waits there for Ctrl-C."""
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 (simulated customers, not secrets)
    words = WORDS.get(crm_name, WORDS["hubspot"])  # an unknown CRM fails in demo_crm below
    report = DemoReport(crm=crm_name, record_kind=words["records"], value_kind=words["values"],
                        follow_up_kind=words["follow_ups"])
    now = datetime.now(UTC)
    secret = demo_secret()
    with tempfile.TemporaryDirectory(prefix="closedloop-demo-") as tmp, \
            demo_crm(crm_name, seed, now) as crm:
        sink = LocalMailSink(port=0)
        sink.start()
        receiver = DemoReceiver(secret)
        receiver.start()
        web_port = _free_port()
        config = demo_config(Path(tmp), crm, sink.port, web_port, now, receiver.url,
                             channels=channels)
        target = f"{str(config.daemon.public_url).rstrip('/')}/hooks/{crm.name}"
        hook = {crm.name: SecretStr(aim(crm, TRIGGERED, target))} if channels else {}
        secrets_ = Secrets(secret_key=secrets.token_urlsafe(32),
                           source_tokens={crm.name: crm.token},
                           webhook_secrets={WEBHOOK: SecretStr(secret)},
                           source_hook_secrets=hook)
        rt = build_runtime(config, secrets_)
        try:
            rt.store.migrate()
            mapping = rt.mappings[crm.name]
            rt.adapters[crm.name].ensure_properties(mapping.group_name, mapping.group_label,
                                                    mapping.specs())
            report.setup_api_calls = crm.total_calls()
            crm.reset_calls()  # the loop's own calls from here on
            service = BackgroundService(rt, port=web_port, every=timedelta(milliseconds=500))
            service.start()
            try:
                contact_ids, ticket_ids = _run_customers(
                    rt, crm, sink, rng, report, timeout,
                    _run_triggered if channels else lambda *args: [])
                _settle_hooks(rt, report, timeout)
                _settle_actions(rt, receiver, timeout)
                fill_counts(rt, crm, contact_ids, report)
                count_hooks(crm, ticket_ids, report)
                count_actions(rt, crm, contact_ids, ticket_ids, receiver, report)
                report.summary = summary_lines(rt.store)
                report.dashboard = prepare_dashboard(rt.store, config, utcnow()).as_dict()
                report.seconds = round(time.monotonic() - started, 1)
                if hold is not None:
                    hold(report)
            finally:
                service.stop()
        finally:
            receiver.stop()
            sink.stop()
            rt.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _run_customers(rt: Runtime, crm: DemoCrm, sink: LocalMailSink, rng: random.Random,
                   report: DemoReport, timeout: float,
                   more: Callable[..., list[str]]) -> tuple[list[str], list[str]]:
    expected = sum(1 for c in CUSTOMERS if c[2])
    contact_ids, ticket_ids = [], []
    for subject, first, address, language, queue, store in CUSTOMERS:
        contact = crm.create_contact(address or None, first, language, last="",
                                     region=STORES[store])
        ticket_ids.append(crm.close_new_ticket(contact, crm.queues[queue], datetime.now(UTC),
                                               subject=subject, store=store))
        contact_ids.append(contact)
        report.tickets_closed += 1
    if not _wait(lambda: len(sink.messages) >= expected, timeout):
        raise DemoFailed(f"only {len(sink.messages)} of {expected} surveys arrived in time")
    support = {c[2] for c in CUSTOMERS if c[4] == "support"}
    unhappy = True  # the first CSAT customer always answers 1: the loop has work to close
    with httpx.Client(timeout=10) as client:
        for message in list(sink.messages):
            links = _links(message)
            if links and unhappy and str(message["To"]).split("<")[-1].strip(">") in support:
                unhappy = False
                _answer(rt, client, min(links, key=lambda u: int(u.rsplit("/", 1)[1])), rng,
                        report, comment=UNHAPPY)
            elif links and rng.random() < 0.85:  # some people never answer
                _answer(rt, client, rng.choice(links), rng, report)
        contact_ids += more(rt, crm, sink, rng, report, timeout, client)
    if not _wait(lambda: rt.store.counts().get("writebacks.pending", 0) == 0
                 and rt.store.counts().get("responses", 0) >= report.answers, timeout):
        raise DemoFailed("the answers were not written back to the CRM in time")
    if rt.store.counts().get("writebacks.rejected"):
        raise DemoFailed(f"{crm.label} refused some write-backs (see the log)")
    return contact_ids, ticket_ids


def _run_triggered(rt: Runtime, crm: DemoCrm, sink: LocalMailSink, rng: random.Random,
                   report: DemoReport, timeout: float, client: httpx.Client) -> list[str]:
    """--channels: the CRM's automation asks for a survey of a new customer (a HubSpot
    workflow's webhook, a Zendesk trigger's); it is mailed and answered like the others."""
    contact = crm.create_contact("noor@example.com", "Noor", "en", last="")
    before = len(sink.messages)
    if not fire(cast(HubSpotSide | ZendeskSide, crm), TRIGGERED, contact, timeout=timeout):
        raise DemoFailed(f"{crm.label}'s automation did not call the daemon in time")
    report.triggered_surveys = sum(v for k, v in rt.store.counts().items()
                                   if k.startswith("triggered."))
    if not _wait(lambda: len(sink.messages) > before, timeout):
        raise DemoFailed("the survey the webhook asked for did not arrive in time")
    _answer(rt, client, max(_links(sink.messages[-1]), key=lambda u: int(u.rsplit("/", 1)[1])),
            rng, report, comment="Onboarding was smooth.")
    report.triggered_answers = 1
    return [contact]


def _settle_hooks(rt: Runtime, report: DemoReport, timeout: float) -> None:
    """Let the hooks fire now: the daemon's clock jumps HOOK_SETTLE ahead (the running jobs
    read it), rather than the demo waiting five minutes for the comment to settle."""
    rt.clock = lambda: utcnow() + HOOK_SETTLE
    report.hook_clock_ahead_seconds = int(HOOK_SETTLE.total_seconds())
    if not _wait(lambda: rt.store.counts().get("hooks.pending", 0) == 0, timeout):
        raise DemoFailed("the ticket hooks (tags, notes) did not fire in time")
    if rt.store.counts().get("hooks.rejected"):
        raise DemoFailed("the CRM refused some ticket hooks (see the log)")


def _settle_actions(rt: Runtime, receiver: DemoReceiver, timeout: float) -> None:
    """Wait for the loop to close: follow-ups made, every answer read by the alerts job and
    its alerts out, every event posted to the receiver. The webhook job keeps the wall clock
    it was built with (receivers check signature times against theirs), not the moved one."""
    def quiet() -> bool:
        counts = rt.store.counts()
        events = len(rt.store.event_rows())
        unread = rt.store.answers_after(rt.store.alert_cursor(), 1, until=rt.clock())
        return (counts.get("follow_ups.pending", 0) == 0 and not unread
                and counts.get("alerts.pending", 0) == 0
                and counts.get(f"webhooks.{WEBHOOK}.delivered", 0) == events
                and receiver.got.webhooks_verified >= events)
    if not _wait(quiet, timeout):
        counts = rt.store.counts()
        raise DemoFailed("the follow-ups, alerts or webhooks did not go out in time "
                         f"(follow-ups pending {counts.get('follow_ups.pending', 0)}, alerts "
                         f"pending {counts.get('alerts.pending', 0)}, webhooks delivered "
                         f"{counts.get(f'webhooks.{WEBHOOK}.delivered', 0)})")
    counts = rt.store.counts()
    refused = {k: counts.get(k, 0) for k in ("follow_ups.rejected", "alerts.dead",
                                              f"webhooks.{WEBHOOK}.dead")}
    if any(refused.values()):
        raise DemoFailed(f"some actions were refused (see the log): {refused}")
