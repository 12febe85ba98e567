"""Several daemons on one PostgreSQL against a faulty sandbox HubSpot: the figures that matter.

Used by tests/e2e/test_replicas_faults.py (a small run) and bench/faults.py (a larger one).
Everything is real: N runtimes (`build_runtime`, each with its own pool, adapters, web server
and scheduler, as N `closedloop run` processes would have) share one PostgreSQL database; the
sandbox HubSpot answers with seeded random faults (5xx, 429 with Retry-After, slow answers,
and note creates applied but answered with a 504); mail goes to an aiosmtpd sink, optionally
through a proxy that cuts SMTP connections; customers answer over HTTP, each through one of
the replicas' web servers. The run ends when every queue is drained (or the time is up).
"""

from __future__ import annotations

import random
import re
import select
import socket
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from closedloop.daemon.config import Secrets, parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.service import BackgroundService
from closedloop.daemon.store import answers as store_answers
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "replicas-token"
SECRET = "replicas-secret-key-0123456789abcdef-0123"
NOTES_CREATE = "/crm/v3/objects/notes/batch/create"
SEARCH = "POST /crm/v3/objects/tickets/search"
RATING = "cl_csat_last_rating"
COMMENT = "cl_csat_last_comment"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/r/([A-Za-z0-9._-]+)/(\d+)")


@dataclass(frozen=True)
class FaultRun:
    """What to run: how many tickets and replicas, which faults, for how long at most."""

    tickets: int = 30
    replicas: int = 3
    error_5xx: float = 0.20
    rate_429: float = 0.10
    slow: float = 0.05
    lost_creates: float = 0.05  # note creates applied, then answered with a 504
    smtp_cuts: float = 0.0  # share of SMTP messages whose connection is cut (half mid-DATA)
    comment_share: float = 0.5
    seed: int = 13
    every: timedelta = timedelta(seconds=1)
    hook_settle: timedelta = timedelta(seconds=2)
    timeout: float = 120.0


@dataclass
class Figures:
    """What one run measured; `lines()` says what each figure divides by."""

    replicas: int
    tickets: int
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
    lost_to_cuts: int = 0
    search_calls: int = 0
    crm_calls: int = 0
    throttled: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    store: dict[str, int] = field(default_factory=dict)

    @property
    def writes_per_answer(self) -> float:
        return self.single_change_writes / max(1, self.single_change_answers)

    def lines(self) -> list[str]:
        share = 100 * self.answers_on_crm / max(1, self.answers)
        return [
            f"replicas={self.replicas} tickets={self.tickets} drained={self.drained} "
            f"in {self.seconds:.1f} s",
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
            f"surveys lost to a cut connection: {self.lost_to_cuts} (of {self.tickets} tickets)",
            f"ticket searches (poll): {self.search_calls}; CRM calls: {self.crm_calls}; "
            f"429 answers: {self.throttled}; faults injected: {self.injected}",
        ]


class CuttingProxy:
    """A TCP proxy in front of the SMTP sink that cuts some messages' connections.

    Per message (decided when the relay answers 354 to DATA): with probability `rate`, a cut;
    half of the cuts happen mid-DATA (the relay accepted nothing), half right after the
    end-of-data dot, the relay's 250 never reaching the client (the mail was accepted).
    """

    def __init__(self, target_port: int, rate: float, seed: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.cuts: Counter[str] = Counter()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="smtp-cutter", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _decide(self) -> str:
        with self._lock:
            roll = self._rng.random()
        if roll >= self._rate:
            return ""
        return "mid" if roll < self._rate / 2 else "after"

    def _pump(self, client: socket.socket) -> None:
        server = socket.create_connection(self._target)
        asked_data = in_data = awaiting = False
        cut, tail = "", b""
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 60)
                if not ready:
                    return
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    if in_data:
                        if cut == "mid":
                            server.sendall(data[: len(data) // 2])
                            self._count("mid")
                            return
                        tail = (tail + data)[-5:]
                        if tail == b"\r\n.\r\n":
                            in_data, awaiting = False, cut == "after"
                    elif data.upper().startswith(b"DATA"):
                        asked_data = True
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    if awaiting:
                        self._count("after")
                        return
                    if asked_data and data.startswith(b"354"):
                        asked_data, in_data, cut, tail = False, True, self._decide(), b""
                    client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.cuts[kind] += 1


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


def _config(pg_url: str, sandbox: str, smtp_port: int, web_port: int, run: FaultRun,
            start_at: datetime) -> Any:
    every = f"{int(run.every.total_seconds() * 1000)}ms"
    return parse_config({
        "daemon": {"state_url": pg_url, "public_url": f"http://127.0.0.1:{web_port}",
                   "listen_port": web_port, "poll_every": every, "dispatch_every": every,
                   "writeback_every": every, "cadence_every": every},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": sandbox,
                                "start_at": start_at.isoformat(), "retry_attempts": 8,
                                "retry_budget": "30s"}},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "from_address": "feedback@acme.example"},
        "rules": {"quiet_hours": [], "global_cooldown": "0s"},
        "programs": [{"name": "support-csat", "type": "csat", "source": "hubspot",
                      "delay": "0s", "company": "Acme", "pipelines": ["0"]}],
    })


def _customers(state: HubSpotState, run: FaultRun, now: datetime) -> dict[str, _Customer]:
    rng = random.Random(run.seed)
    out = {}
    for i in range(run.tickets):
        email = f"customer{i}@example.com"
        contact = state.create_contact(email, f"C{i}", "Faults", "en")
        ticket = state.create_ticket(f"Issue {i}", contact, pipeline="0")
        state.close_ticket(ticket, at=now - timedelta(seconds=run.tickets - i))
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


def _drained(rt: Runtime, customers: dict[str, _Customer], sink: LocalMailSink) -> bool:
    counts = rt.store.counts()
    busy = sum(counts.get(k, 0) for k in ("sends.pending", "sends.claimed", "sends.sending",
                                          "writebacks.pending", "hooks.pending"))
    mailed = {str(m["To"]) for m in sink.messages}
    waiting = [c for c in customers.values() if c.email in mailed and not c.answered]
    return busy == 0 and not waiting and counts.get("sends.sent", 0) + counts.get(
        "sends.failed", 0) + counts.get("sends.skipped", 0) >= len(customers)


def run_faults(pg_url: str, run: FaultRun) -> Figures:
    """One run; the figures are read from the sandbox, the sink and the store afterwards."""
    now = datetime.now(UTC)
    state = HubSpotState()
    figures = Figures(replicas=run.replicas, tickets=run.tickets)
    settle = store_answers.HOOK_SETTLE
    store_answers.HOOK_SETTLE = run.hook_settle  # notes soon after the answer, for a test
    runtimes: list[Runtime] = []
    try:
        with ExitStack() as stack:
            sandbox = stack.enter_context(HubSpotSandbox(state, token=TOKEN,
                                                         rate_limit_per_10s=0))
            sink = stack.enter_context(LocalMailSink(port=0))
            smtp_port = sink.port
            proxy = None
            if run.smtp_cuts:
                proxy = CuttingProxy(sink.port, run.smtp_cuts, run.seed)
                stack.callback(proxy.close)
                smtp_port = proxy.port
            ports = [_free_port() for _ in range(run.replicas)]
            config = _config(pg_url, sandbox.url, smtp_port, ports[0], run,
                             now - timedelta(hours=1))
            secrets = Secrets(secret_key=SECRET, source_tokens={"hubspot": TOKEN})
            for _ in range(run.replicas):
                rt = build_runtime(config, secrets)
                runtimes.append(rt)
                stack.callback(rt.close)
            runtimes[0].store.migrate()
            mapping = runtimes[0].mappings["hubspot"]
            runtimes[0].adapters["hubspot"].ensure_properties(
                mapping.group_name, mapping.group_label, mapping.specs())
            customers = _customers(state, run, now)
            sandbox.reset_calls()
            sandbox.set_faults(FaultRates(
                error_5xx=run.error_5xx, rate_429=run.rate_429, slow=run.slow,
                lost=run.lost_creates, lost_paths=(NOTES_CREATE,), seed=run.seed,
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
            _measure(figures, state, sandbox, sink, customers, runtimes[0])
    finally:
        store_answers.HOOK_SETTLE = settle
    return figures


def _measure(figures: Figures, state: HubSpotState, sandbox: HubSpotSandbox,
             sink: LocalMailSink, customers: dict[str, _Customer], rt: Runtime) -> None:
    per_recipient = Counter(str(m["To"]) for m in sink.messages)
    figures.mails = sum(per_recipient.values())
    figures.mailed = len(per_recipient)
    figures.duplicate_mails = sum(n - 1 for n in per_recipient.values())
    answered = [c for c in customers.values() if c.answered]
    figures.answers = len(answered)
    figures.answered_tickets = len(answered)
    for customer in answered:
        props = state.contact(customer.contact)["properties"]
        if (str(props.get(RATING)), props.get(COMMENT) or None) == (
                str(customer.score), customer.comment):
            figures.answers_on_crm += 1
        notes = state.notes(ticket_id=customer.ticket)
        figures.notes += len(notes)
        figures.duplicate_notes += max(0, len(notes) - 1)
    last: dict[str, dict[str, Any]] = {}
    writes: Counter[str] = Counter()
    for contact, values in list(state.contact_writes):
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
    mailed = {str(m["To"]) for m in sink.messages}
    figures.lost_to_cuts = sum(1 for c in customers.values() if c.email not in mailed)
    calls = sandbox.calls_snapshot()
    figures.search_calls = calls["calls"].get(SEARCH, 0)
    figures.crm_calls = calls["total"]
    figures.throttled = sum(calls["throttled"].values())
