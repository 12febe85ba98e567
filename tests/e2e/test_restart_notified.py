"""Kill -9 the real daemon while CRM change notifications arrive: every ticket whose
notification the daemon acknowledged (202) gets exactly one survey, none is mailed twice.

The notified-ticket queue (daemon/jobs/notified.py) is claimed with a lease, read from the
CRM, queued, then settled; a kill between any two of those steps must leave the ticket for
the next run and the outbox's key must keep it to one survey. A kill between the claim and
the queueing leaves the notice held under the intake's 5-minute lease (`notified.held`, the
crash window): the safety poll, every 10 s here, reads and queues such a ticket itself;
every other ticket it sees it only hands to the same notified queue.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_restart import CLOSEDLOOP, TOKEN, free_port, wait_healthy, write_config

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.jobs.notified import LEASE as INTAKE_LEASE
from closedloop.daemon.store import Store
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

APP_SECRET = "restart-notified-app-secret"
WAVES = 6
PER_WAVE = 4

ENV = {**os.environ, "CLOSEDLOOP_SECRET_KEY": "restart-secret-key-0123456789abcdef",
       "CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN, "CLOSEDLOOP_HUBSPOT_WEBHOOK_SECRET": APP_SECRET}


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*CLOSEDLOOP, "run", "--config", str(config)],
                                stdout=out, stderr=out, env=ENV)


@pytest.mark.slow
def test_kill_9_while_notifications_arrive(tmp_path: Path) -> None:
    """Six waves of closures, each notified to a daemon killed at a random moment after."""
    rng = random.Random(20261205)
    now = datetime.now(UTC)
    state = HubSpotState.seeded(tickets=2, contacts=2, seed=3, now=now - timedelta(days=3))
    tickets: dict[str, str] = {}  # ticket id -> the person's address
    for i in range(WAVES * PER_WAVE):
        address = f"notified{i}@example.com"
        contact = state.create_contact(address, f"N{i}", "Restart", "en")
        tickets[state.create_ticket(f"Issue {i}", contact, pipeline="0")] = address
    config, db, log = tmp_path / "config.toml", tmp_path / "state.db", tmp_path / "daemon.log"
    order = list(tickets)
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0) as sandbox, \
            LocalMailSink(port=0) as sink:
        web_port = free_port()
        sandbox.webhooks.subscribe(f"http://127.0.0.1:{web_port}/hooks/hubspot", APP_SECRET)
        write_config(config, db, sandbox.url, sink.port, web_port, now - timedelta(hours=1),
                     source_extra='notifications = true\nsafety_poll_every = "10s"\n')
        setup = subprocess.run([*CLOSEDLOOP, "setup", "--config", str(config)],
                               capture_output=True, text=True, env=ENV, check=False)
        assert setup.returncode == 0, setup.stderr
        for wave in range(WAVES):
            daemon = start_daemon(config, log)
            wait_healthy(web_port)
            for ticket in order[wave * PER_WAVE:(wave + 1) * PER_WAVE]:
                state.close_ticket(ticket, at=datetime.now(UTC))
            assert sandbox.webhooks.notifier.flush(10)
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere in claim / read / queue / send
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)

        acknowledged = {str(event["objectId"])
                        for delivery in sandbox.webhooks.notifier.sent()
                        if delivery.status == 202 for event in delivery.events}
        daemon = start_daemon(config, log)
        wait_healthy(web_port)
        store = Store(f"sqlite:///{db}")
        try:
            # 60 s, or until a killed intake's claim has run out: a notice claimed and not
            # queued when it died waits out its lease (the crash window, `notified.held`)
            # unless the safety poll still sees its ticket (its cursor may have passed it
            # before the kill); then the new daemon's intake reads it.
            cap = time.monotonic() + INTAKE_LEASE.total_seconds() + 90
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline or (time.monotonic() < cap
                                                  and _held_notices(db)):
                counts = store.counts()
                settled = (counts.get("sends.sent", 0) + counts.get("sends.skipped", 0)
                           + counts.get("sends.outcome_unknown", 0))
                if settled >= len(acknowledged):
                    break
                time.sleep(0.2)
            time.sleep(0.5)
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=20) == 0, log.read_text()[-3000:]
            counts = store.counts()
            sends = [s for i in range(1, 200) if (s := store.get_send(i)) is not None]
        finally:
            store.dispose()

    queued = {s.ticket_id for s in sends}
    assert len(acknowledged) >= PER_WAVE  # the daemon took notifications at all
    assert acknowledged <= queued  # every acknowledged notification became a survey
    mails = Counter(str(m["To"]) for m in sink.messages)
    assert [a for a, n in mails.items() if n > 1] == []  # never twice
    interrupted = counts.get("outcome_unknown.interrupted_during_send", 0)
    assert counts.get("sends.sent", 0) + interrupted == len(queued)
    assert {s.email for s in sends if s.status == "sent"} <= set(mails)  # marked sent = left
    text = log.read_text()
    assert "@example.com" not in text
    assert TOKEN not in text
    assert APP_SECRET not in text


def _held_notices(db: Path) -> bool:
    """Whether notices are still claimed and pending (by an intake killed mid-run)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM notified_tickets WHERE status = 'pending'"
                           " AND claim_token IS NOT NULL").fetchone()
    return bool(row and row[0])
