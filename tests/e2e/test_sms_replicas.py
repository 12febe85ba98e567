"""Three daemons on one PostgreSQL text the same due SMS surveys at once, through a Twilio
having a bad day: every person is texted at most once, and every survey ends settled.

Three runtimes (`build_runtime`: own pools, adapters, SMS clients, as three `closedloop run`
processes would have) share one database and one sandbox Twilio with seeded faults: 10 %
5xx (the text may or may not have gone: outcome_unknown, never resent), 10 % 429 (Twilio took
nothing: tried again after RETRY), 5 % applied then answered with a 504 (sent, answer lost:
outcome_unknown). The replicas start their dispatch runs together (a barrier) and run
until nothing is due, each claiming BATCH rows at a time so their claims interleave.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from e2e_loop import E2E_START, SECRET, Clock, Loop, free_port, loop_config, make_driver
from sqlalchemy import select

from closedloop.daemon.channels.sms import RETRY
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.dispatch import DispatchResult, dispatch_due
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.store.tables import Send
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.twilio import TwilioSandbox

PEOPLE = 40
REPLICAS = 3
BATCH = 4  # rows a replica claims at a time (the daemon's 200 would let one take them all)


@pytest.mark.slow
@pytest.mark.postgres
def test_three_replicas_text_each_person_at_most_once(pg_url: str, tmp_path: Path) -> None:
    """40 due SMS surveys, three replicas dispatching at once under Twilio faults: no number
    texted twice, no survey left unsettled, and Twilio holds exactly one text for each
    survey marked sent (plus, at most, one for each outcome_unknown)."""
    with time_machine.travel(E2E_START, tick=True), TwilioSandbox() as twilio:
        start = E2E_START.replace(microsecond=0)
        clock = Clock(start)
        with make_driver("hubspot", start) as crm, LocalMailSink(port=0) as sink:
            config = loop_config(
                tmp_path, crm, sink.port, free_port(), start - timedelta(minutes=10),
                sms={"account_sid": twilio.account_sid, "from_number": "+15005550006",
                     "base_url": twilio.url, "default_region": "US"},
                programs=[{"name": "support-csat", "type": "csat", "source": "hubspot",
                           "delay": "1h", "company": "Acme", "pipelines": [crm.support],
                           "channel": "sms"}])
            config = config.model_copy(update={"daemon": config.daemon.model_copy(
                update={"state_url": pg_url})})
            secrets = Secrets(secret_key=SECRET, source_tokens={"hubspot": crm.secrets()},
                              sms_auth_token=twilio.auth_token)
            runtimes = [build_runtime(config, secrets, clock=clock) for _ in range(REPLICAS)]
            try:
                runtimes[0].store.migrate()
                loop = Loop(crm, sink, runtimes[0], clock, config)
                for n in range(PEOPLE):
                    contact = crm.create_contact(f"p{n}@example.com", f"P{n}", "en", None,
                                                 phone=f"(415) 555-{n:04d}")
                    loop.close_ticket(f"p{n}@example.com", contact=contact)
                runtimes[0].poll()
                clock.advance(timedelta(hours=1))
                twilio.set_faults(FaultRates(error_5xx=0.1, rate_429=0.1, lost=0.05, seed=7,
                                             retry_after=0))
                results = _dispatch_together(runtimes, clock)
                with runtimes[0].store.engine.connect() as conn:
                    statuses = Counter(conn.execute(select(Send.status)).scalars())
            finally:
                for rt in runtimes:
                    rt.close()
    texted = Counter(m.to for m in twilio.messages)
    report = f"statuses={dict(statuses)} texts={len(twilio.messages)} results={results}"
    assert [n for n, times in texted.items() if times > 1] == [], report
    assert sum(statuses.values()) == PEOPLE, report
    assert set(statuses) <= {"sent", "outcome_unknown"}, report
    assert statuses["sent"] + statuses["outcome_unknown"] == PEOPLE, report
    assert statuses["sent"] <= len(twilio.messages) <= PEOPLE, report
    assert sum(r.sent + r.unknown for r in results) == PEOPLE, report
    assert sum(r.retried for r in results) > 0, report  # the 429s were met and waited out
    assert sum(1 for r in results if r.sent + r.unknown) >= REPLICAS, report  # interleaved


def _dispatch_together(runtimes: list[Runtime], clock: Clock) -> list[DispatchResult]:
    """Rounds of all replicas dispatching at once, the clock past RETRY between rounds."""
    results: list[DispatchResult] = []
    lock = threading.Lock()
    for _ in range(12):
        barrier = threading.Barrier(len(runtimes))

        def run(rt: Runtime, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            result = _dispatch(rt)
            with lock:
                results.append(result)

        threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        if not runtimes[0].store.counts().get("sends.pending", 0):
            break
        clock.advance(RETRY + timedelta(seconds=1))
    return results


def _dispatch(rt: Runtime) -> DispatchResult:
    """What Runtime.dispatch runs, with a small claim batch."""
    assert rt.sms is not None
    return dispatch_due(rt.store, rt.programs, rt.mailer, rt.compose, rt.clock(), batch=BATCH,
                        policy=rt.config.policy(), adapters=rt.adapters,
                        paused=rt.guard.paused(), channels={"sms": rt.sms},
                        window=rt.config.coalescing.sends)
