"""Kill -9 the real daemon at random moments, start it again: no survey twice, no answer lost."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.jobs.writeback import LEASE as WRITEBACK_LEASE
from closedloop.daemon.store import Store
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]  # the CLI, as installed

TOKEN = "restart-token"
CUSTOMERS = 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, state_db: Path, sandbox_url: str, smtp_port: int, web_port: int,
                 start_at: datetime, source_extra: str = "") -> None:
    """The daemon's config; `source_extra`: more lines for [sources.hubspot]."""
    path.write_text(f"""
[daemon]
state_url = "sqlite:///{state_db}"
public_url = "http://127.0.0.1:{web_port}"
listen_port = {web_port}
poll_every = "200ms"
dispatch_every = "200ms"
writeback_every = "200ms"
log_format = "json"

[sources.hubspot]
crm = "hubspot"
base_url = "{sandbox_url}"
start_at = {start_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
{source_extra}
[mail]
host = "127.0.0.1"
port = {smtp_port}
from_address = "feedback@acme.example"

[coalescing]  # no work waits for company: the test is about crashes, not windows
answers = "0s"
writeback = "0s"
intake = "0s"
sends = "0s"

[rules]
quiet_hours = []  # the test runs at any hour of the day

[[programs]]
name = "support-csat"
type = "csat"
source = "hubspot"
delay = "0s"
company = "Acme"
""")


ENV = {**os.environ, "CLOSEDLOOP_SECRET_KEY": "restart-secret-key-0123456789abcdef",
       "CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN}


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*CLOSEDLOOP, "run", "--config", str(config)],
                                stdout=out, stderr=out, env=ENV)


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the daemon did not come up")


def answer_some(sink: LocalMailSink, acknowledged: dict[str, int], rng: random.Random,
                unconfirmed: dict[str, list[int]] | None = None) -> None:
    """Click links in the mails received so far; remember the answers the server confirmed
    (303) and, in `unconfirmed`, the clicks after them whose reply never came: the daemon may
    have been killed after committing one and before answering, so it may have counted."""
    for message in sink.messages:
        body = message.get_body(("plain",))
        assert body is not None
        links = re.findall(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/\d", body.get_content())
        if not links or rng.random() < 0.5:
            continue
        link = rng.choice(links)
        score, address = int(link.rsplit("/", 1)[1]), str(message["To"])
        try:
            reply = httpx.post(link, timeout=2)
        except httpx.HTTPError:
            if unconfirmed is not None:
                unconfirmed.setdefault(address, []).append(score)
            continue
        if reply.status_code == 303:
            acknowledged[address] = score
            if unconfirmed is not None:
                unconfirmed[address] = []  # a confirmed later click supersedes them


@pytest.mark.slow
def test_kill_9_at_random_moments(tmp_path: Path) -> None:
    """Eight kill -9s during polling, sending and answering; then a clean SIGTERM stop."""
    rng = random.Random(20261123)
    now = datetime.now(UTC)
    state = HubSpotState.seeded(tickets=5, contacts=5, seed=2, now=now - timedelta(days=3))
    contacts = {}
    for i in range(CUSTOMERS):
        address = f"person{i}@example.com"
        contacts[address] = state.create_contact(address, f"P{i}", "Restart", "en")
        ticket = state.create_ticket(f"Issue {i}", contacts[address], pipeline="0")
        state.close_ticket(ticket, at=now - timedelta(seconds=CUSTOMERS - i))
    config, db, log = tmp_path / "config.toml", tmp_path / "state.db", tmp_path / "daemon.log"
    acknowledged: dict[str, int] = {}
    unconfirmed: dict[str, list[int]] = {}
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0) as sandbox, \
            LocalMailSink(port=0) as sink:
        web_port = free_port()
        write_config(config, db, sandbox.url, sink.port, web_port, now - timedelta(hours=1))
        setup = subprocess.run([*CLOSEDLOOP, "setup", "--config", str(config)],
                               capture_output=True, text=True, env=ENV, check=False)
        assert setup.returncode == 0, setup.stderr
        assert "19 properties created" in setup.stdout
        for _ in range(8):
            daemon = start_daemon(config, log)
            deadline = time.monotonic() + rng.uniform(0.8, 3.0)
            while time.monotonic() < deadline:
                answer_some(sink, acknowledged, rng, unconfirmed)
                time.sleep(0.05)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)

        daemon = start_daemon(config, log)
        wait_healthy(web_port)
        store = Store(f"sqlite:///{db}")
        try:
            # 60 s, or until a killed daemon's write-back claim has run out: rows claimed
            # and not written when it died wait out their lease (jobs/writeback.py LEASE, the
            # crash window), then the new daemon writes them.
            cap = time.monotonic() + WRITEBACK_LEASE.total_seconds() + 90
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline or (time.monotonic() < cap and _held(db)):
                if len(acknowledged) < 5:
                    answer_some(sink, acknowledged, rng, unconfirmed)
                counts = store.counts()
                settled = (counts.get("sends.sent", 0) + counts.get("sends.skipped", 0)
                           + counts.get("sends.outcome_unknown", 0))
                if settled == CUSTOMERS and counts.get("writebacks.pending", 0) == 0 \
                        and len(acknowledged) >= 5:
                    break
                time.sleep(0.2)
            time.sleep(0.5)  # let a last write-back round finish
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=20) == 0, log.read_text()[-3000:]
            counts = store.counts()
            sends = [store.get_send(i) for i in range(1, CUSTOMERS + 1)]
        finally:
            store.dispose()

        mails = Counter(str(m["To"]) for m in sink.messages)
        assert [a for a, n in mails.items() if n > 1] == []  # never twice
        # Killed between the final dot and the record: outcome unknown, never resent.
        interrupted = counts.get("outcome_unknown.interrupted_during_send", 0)
        assert counts.get("sends.sent", 0) + interrupted == CUSTOMERS
        sent_to = {s.email for s in sends if s is not None and s.status == "sent"}
        assert sent_to <= set(mails)  # every send marked sent really left
        assert len(acknowledged) >= 5
        for address, score in acknowledged.items():  # every confirmed answer reached HubSpot
            written = state.contact(contacts[address])["properties"]["cl_csat_last_rating"]
            # ... unless a later click, killed between its commit and its reply, counted
            assert int(written) in {score, *unconfirmed.get(address, [])}
        text = log.read_text()
        assert "@example.com" not in text  # no customer address in the log
        assert TOKEN not in text


def _held(db: Path) -> bool:
    """Whether write-back rows are still claimed (by a daemon killed mid-write)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM writebacks WHERE status = 'pending'"
                           " AND claim_token IS NOT NULL").fetchone()
    return bool(row and row[0])
