"""Several daemons on one PostgreSQL against a faulty sandbox CRM: the figures that matter.

Used by tests/e2e/test_replicas_faults.py (a small run) and bench/faults.py (a larger one).
Everything is real: N runtimes (`build_runtime`, each with its own pool, adapters, web server
and scheduler, as N `closedloop run` processes would have) share one PostgreSQL database; the
sandbox HubSpot or Zendesk answers with seeded random faults (5xx, 429 with Retry-After, slow
answers, and note creates or contact updates applied but answered with a 504); mail goes to
an aiosmtpd sink, optionally through a proxy that cuts SMTP connections; customers answer
over HTTP, each through one of the replicas' web servers. The run ends when every queue is
drained (or the time is up).
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from smtp_cutter import CuttingProxy
from sqlalchemy import text

from closedloop.daemon.config import parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.store import answers as store_answers
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox._http import SandboxServer
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

TOKEN = "replicas-token"
SECRET = "replicas-secret-key-0123456789abcdef-0123"
RATING = "cl_csat_last_rating"
COMMENT = "cl_csat_last_comment"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/r/([A-Za-z0-9._-]+)/(\d+)")


@dataclass(frozen=True)
class FaultRun:
    """What to run: how many tickets and replicas, which faults, for how long at most."""

    tickets: int = 30
    replicas: int = 3
    crm: str = "hubspot"  # or "zendesk"
    error_5xx: float = 0.20
    rate_429: float = 0.10
    slow: float = 0.05
    lost_creates: float = 0.05  # writes applied, then answered with a 504 (see lost_paths)
    smtp_cuts: float = 0.0  # share of SMTP messages whose connection is cut (half mid-DATA)
    comment_share: float = 0.5
    seed: int = 13
    every: timedelta = timedelta(seconds=1)
    hook_settle: timedelta = timedelta(seconds=2)
    timeout: float = 120.0
    coalescing: tuple[tuple[str, str], ...] = (  # [coalescing]: every window shut by default
        ("answers", "0s"), ("writeback", "0s"), ("intake", "0s"), ("sends", "0s"))


@dataclass
class Figures:
    """What one run measured; `lines()` says what each figure divides by."""

    replicas: int
    tickets: int
    crm: str = "hubspot"
    seconds: float = 0.0
    drained: bool = False
    mails: int = 0
    mailed: int = 0  # distinct recipients
    duplicate_mails: int = 0
    answers: int = 0
    answers_on_crm: int = 0
    answered_tickets: int = 0
    notes: int = 0
    duplicate_notes: int = 0
    answer_writes: int = 0  # contact updates that carried an answer (a rating)
    identical_rewrites: int = 0  # such an update repeating the contact's previous one
    single_change_answers: int = 0  # answers without a comment: one change each
    single_change_writes: int = 0  # the answer writes of those
    lost_to_cuts: int = 0  # never mailed, and not held as outcome_unknown either
    unknown_not_mailed: int = 0  # outcome_unknown (never sent again) that did not arrive
    search_calls: int = 0
    crm_calls: int = 0
    throttled: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    store: dict[str, int] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # write-back rows left, with their error

    @property
    def writes_per_answer(self) -> float:
        return self.single_change_writes / max(1, self.single_change_answers)

    def lines(self) -> list[str]:
        share = 100 * self.answers_on_crm / max(1, self.answers)
        return [
            f"{self.crm}: replicas={self.replicas} tickets={self.tickets} "
            f"drained={self.drained} in {self.seconds:.1f} s",
            f"duplicate mails: {self.duplicate_mails} (mails {self.mails} to "
            f"{self.mailed} recipients)",
            f"duplicate notes: {self.duplicate_notes} (notes {self.notes} on "
            f"{self.answered_tickets} answered tickets)",
            f"contact writes per answer: {self.writes_per_answer:.2f} (answer-carrying "
            f"updates {self.single_change_writes} / answers without a later comment "
            f"{self.single_change_answers}); identical re-writes: {self.identical_rewrites} "
            f"(of {self.answer_writes} answer-carrying updates)",
            f"answers on the CRM: {share:.1f} % ({self.answers_on_crm} of {self.answers} "
            "answers with their exact score and comment on the contact)",
            f"surveys lost to a cut connection: {self.lost_to_cuts} (of {self.tickets} "
            f"tickets); outcome_unknown and not delivered: {self.unknown_not_mailed} (a cut "
            "the client saw after its end-of-data: never sent again, by design)",
            f"ticket reads (poll): {self.search_calls}; CRM calls: {self.crm_calls}; "
            f"429 answers: {self.throttled}; faults injected: {self.injected}",
            f"store: {self.store}",
            *(f"  pending: {row}" for row in self.pending[:10]),
        ]


class _HubSpot:
    """The HubSpot side: contacts with a closed ticket each; what landed on them."""

    lost_paths = ("/crm/v3/objects/notes/batch/create", "/crm/v3/objects/contacts/batch/update")
    poll_key = "POST /crm/v3/objects/tickets/search"

    def __init__(self) -> None:
        self.state = HubSpotState()
        self.sandbox: SandboxServer = HubSpotSandbox(self.state, token=TOKEN,
                                                     rate_limit_per_10s=0)

    def source(self, start_at: datetime) -> dict[str, Any]:
        return {"crm": "hubspot", "base_url": self.sandbox.url, "start_at": start_at.isoformat()}

    def token(self) -> str:
        return TOKEN

    def customer(self, i: int, email: str, closed: datetime) -> tuple[str, str]:
        contact = self.state.create_contact(email, f"C{i}", "Faults", "en")
        ticket = self.state.create_ticket(f"Issue {i}", contact, pipeline="0")
        self.state.close_ticket(ticket, at=closed)
        return contact, ticket

    def answer_on_record(self, contact: str) -> tuple[str, str | None]:
        props = self.state.contact(contact)["properties"]
        return str(props.get(RATING)), props.get(COMMENT) or None

    def notes(self, ticket: str) -> list[str]:
        return [str(n["body"]) for n in self.state.notes(ticket_id=ticket)]

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.state.contact_writes)


class _Zendesk:
    """The Zendesk side: users with a solved ticket each; user fields and private comments."""

    lost_paths = ("/api/v2/tickets/update_many",)  # user-field writes: not yet checked
    poll_key = "GET /api/v2/incremental/tickets/cursor.json"

    def __init__(self) -> None:
        self.state = ZendeskState()
        self.zendesk = ZendeskSandbox(self.state, rate_limit_per_minute=0,
                                      incremental_per_minute=0, search_export_per_minute=0)
        self.sandbox: SandboxServer = self.zendesk

    def source(self, start_at: datetime) -> dict[str, Any]:
        return {"crm": "zendesk", "subdomain": self.zendesk.subdomain,
                "email": self.zendesk.email, "base_url": self.zendesk.url,
                "start_at": start_at.isoformat(), "job_poll_interval": "50ms",
                "job_timeout": "20s"}

    def token(self) -> str:
        return self.zendesk.token

    def customer(self, i: int, email: str, closed: datetime) -> tuple[str, str]:
        user = self.state.create_user(email, f"C{i} Faults")
        ticket = self.state.create_ticket(f"Issue {i}", user, brand_id="1",
                                          created_at=closed - timedelta(hours=1))
        self.state.solve_ticket(ticket, at=closed)
        return user, ticket

    def answer_on_record(self, contact: str) -> tuple[str, str | None]:
        fields = self.state.user(contact).get("user_fields") or {}
        return str(fields.get(RATING)), fields.get(COMMENT) or None

    def notes(self, ticket: str) -> list[str]:
        return [str(c["body"]) for c in self.state.comments(ticket) if not c["public"]]

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.state.user_writes)


_Side = _HubSpot | _Zendesk
SUPPORT = {"hubspot": "0", "zendesk": "1"}  # the pipeline / brand the program surveys


@dataclass
class _Customer:
    email: str
    contact: str
    ticket: str
    score: int
    comment: str | None
    answered: bool = False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(pg_url: str, side: _Side, smtp_port: int, web_port: int, run: FaultRun,
            start_at: datetime) -> Any:
    every = f"{int(run.every.total_seconds() * 1000)}ms"
    return parse_config({
        "daemon": {"state_url": pg_url, "public_url": f"http://127.0.0.1:{web_port}",
                   "listen_port": web_port, "poll_every": every, "dispatch_every": every,
                   "writeback_every": every, "cadence_every": every},
        "sources": {run.crm: {**side.source(start_at), "retry_attempts": 8,
                              "retry_budget": "30s"}},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example"},
        "rules": {"quiet_hours": [], "global_cooldown": "0s"},
        "coalescing": dict(run.coalescing),
        "programs": [{"name": "support-csat", "type": "csat", "source": run.crm,
                      "delay": "0s", "company": "Acme", "pipelines": [SUPPORT[run.crm]]}],
    })


def _customers(side: _Side, run: FaultRun, now: datetime) -> dict[str, _Customer]:
    rng = random.Random(run.seed)
    out = {}
    for i in range(run.tickets):
        email = f"customer{i}@example.com"
        contact, ticket = side.customer(i, email, now - timedelta(seconds=run.tickets - i))
        comment = f"comment {i}: refund was slow" if rng.random() < run.comment_share else None
        out[email] = _Customer(email, contact, ticket, 1 + i % 5, comment)
    return out


def _answer(customers: dict[str, _Customer], sink: LocalMailSink, ports: list[int]) -> None:
    """Each customer answers the first mail they got, through replica (i mod N)'s web app."""
    for n, message in enumerate(sink.messages):
        customer = customers.get(str(message["To"]))
        if customer is None or customer.answered:
            continue
        body = message.get_body(("plain",))
        found = LINK.search(body.get_content()) if body is not None else None
        if found is None:
            continue
        base = f"http://127.0.0.1:{ports[n % len(ports)]}"
        token = found.group(1)
        try:
            if httpx.post(f"{base}/r/{token}/{customer.score}", timeout=5).status_code != 303:
                continue
            if customer.comment and httpx.post(f"{base}/c/{token}", timeout=5, data={
                    "comment": customer.comment}).status_code != 303:
                continue
        except httpx.HTTPError:
            continue
        customer.answered = True


_QUEUES = text(
    "SELECT (SELECT count(*) FROM sends), "
    "(SELECT count(*) FROM sends WHERE status IN ('pending', 'claimed', 'sending')), "
    "(SELECT count(*) FROM writebacks WHERE status = 'pending')")


def _drained(rt: Runtime, customers: dict[str, _Customer], sink: LocalMailSink) -> bool:
    """Every ticket has its survey row, none is on its way, no write-back waits, and every
    customer who got a mail has answered. (Read in SQL, so a send state added later, such as
    an "outcome unknown" one, counts as settled.)"""
    with rt.store.engine.connect() as conn:
        total, moving, writing = conn.execute(_QUEUES).one()
    mailed = {str(m["To"]) for m in sink.messages}
    waiting = [c for c in customers.values() if c.email in mailed and not c.answered]
    return total >= len(customers) and moving == 0 and writing == 0 and not waiting


def run_faults(pg_url: str, run: FaultRun) -> Figures:
    """One run; the figures are read from the sandbox, the sink and the store afterwards."""
    now = datetime.now(UTC)
    side: _Side = _HubSpot() if run.crm == "hubspot" else _Zendesk()
    figures = Figures(replicas=run.replicas, tickets=run.tickets, crm=run.crm)
    settle = store_answers.HOOK_SETTLE
    store_answers.HOOK_SETTLE = run.hook_settle  # notes soon after the answer, for a test
    runtimes: list[Runtime] = []
    try:
        with ExitStack() as stack:
            sandbox = stack.enter_context(side.sandbox)
            sink = stack.enter_context(LocalMailSink(port=0))
            smtp_port = sink.port
            proxy = None
            if run.smtp_cuts:
                proxy = CuttingProxy(sink.port, run.smtp_cuts, run.seed)
                stack.callback(proxy.close)
                smtp_port = proxy.port
            ports = [_free_port() for _ in range(run.replicas)]
            config = _config(pg_url, side, smtp_port, ports[0], run, now - timedelta(hours=1))
            secrets = Secrets(secret_key=SECRET, source_tokens={run.crm: side.token()})
            for _ in range(run.replicas):
                rt = build_runtime(config, secrets)
                runtimes.append(rt)
                stack.callback(rt.close)
            runtimes[0].store.migrate()
            mapping = runtimes[0].mappings[run.crm]
            runtimes[0].adapters[run.crm].ensure_properties(
                mapping.group_name, mapping.group_label, mapping.specs())
            customers = _customers(side, run, now)
            sandbox.reset_calls()
            sandbox.set_faults(FaultRates(
                error_5xx=run.error_5xx, rate_429=run.rate_429, slow=run.slow,
                lost=run.lost_creates, lost_paths=side.lost_paths, seed=run.seed,
                slow_seconds=0.5, retry_after=1.0))
            started = time.monotonic()
            services = []
            for rt, port in zip(runtimes, ports, strict=True):
                service = BackgroundService(rt, port=port, every=run.every)
                service.start()
                services.append(service)
            try:
                while time.monotonic() - started < run.timeout:
                    _answer(customers, sink, ports)
                    if _drained(runtimes[0], customers, sink):
                        figures.drained = True
                        break
                    time.sleep(0.2)
            finally:
                for service in services:
                    service.stop()
            figures.seconds = time.monotonic() - started
            figures.injected = sandbox.faults.snapshot()["injected"]
            if proxy is not None:
                figures.injected.update({f"smtp_cut_{k}": v for k, v in proxy.cuts.items()})
            sandbox.set_faults(None)
            _measure(figures, side, sink, customers, runtimes[0])
    finally:
        store_answers.HOOK_SETTLE = settle
    return figures


def _measure(figures: Figures, side: _Side, sink: LocalMailSink,
             customers: dict[str, _Customer], rt: Runtime) -> None:
    per_recipient = Counter(str(m["To"]) for m in sink.messages)
    figures.mails = sum(per_recipient.values())
    figures.mailed = len(per_recipient)
    figures.duplicate_mails = sum(n - 1 for n in per_recipient.values())
    answered = [c for c in customers.values() if c.answered]
    figures.answers = len(answered)
    figures.answered_tickets = len(answered)
    for customer in answered:
        if side.answer_on_record(customer.contact) == (str(customer.score), customer.comment):
            figures.answers_on_crm += 1
        notes = side.notes(customer.ticket)
        figures.notes += len(notes)
        figures.duplicate_notes += max(0, len(notes) - 1)
    last: dict[str, dict[str, Any]] = {}
    writes: Counter[str] = Counter()
    for contact, values in side.writes():
        if RATING not in values:
            continue
        answer = {k: v for k, v in values.items() if k.startswith("cl_csat_last_")
                  and not k.startswith("cl_csat_last_sent")}
        figures.answer_writes += 1
        writes[contact] += 1
        if last.get(contact) == answer:
            figures.identical_rewrites += 1
        last[contact] = answer
    single = [c for c in answered if not c.comment]
    figures.single_change_answers = len(single)
    figures.single_change_writes = sum(writes[c.contact] for c in single)
    counts = rt.store.counts()
    figures.store = {k: v for k, v in counts.items() if v}
    left = text("SELECT kind, attempts, last_error FROM writebacks WHERE status = 'pending'")
    with rt.store.engine.connect() as conn:
        figures.pending = [f"{kind} attempts={n} {str(error)[:120]}"
                           for kind, n, error in conn.execute(left)]
    mailed = {str(m["To"]) for m in sink.messages}
    unknown_sql = text("SELECT email FROM sends WHERE status = 'outcome_unknown'")
    with rt.store.engine.connect() as conn:
        unknown = {str(e) for e in conn.scalars(unknown_sql)}
    missing = [c for c in customers.values() if c.email not in mailed]
    figures.lost_to_cuts = sum(1 for c in missing if c.email not in unknown)
    figures.unknown_not_mailed = sum(1 for c in missing if c.email in unknown)
    sandbox = side.sandbox
    figures.search_calls = sandbox.calls.get(side.poll_key, 0)
    figures.crm_calls = sandbox.total_calls()
    figures.throttled = sum(sandbox.throttled.values())
