"""Benchmark: the whole loop for N closed tickets against the sandbox HubSpot.

Prints CRM API calls per surveyed ticket, the daemon's CPU milliseconds per ticket and its
peak memory. The sandbox and the SMTP sink run in a child process, so the figures are the
daemon's alone. Answers are recorded through the store (the web path has its own tests and
costs no CRM call); everything that talks to HubSpot or SMTP is the real code.

    python bench/loop.py --tickets 10000 [--answer-rate 0.3] [--rate-limit 190]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import pstats
import random
import resource
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.config import Secrets, parse_config
from daemon.logging import configure
from daemon.runtime import build_runtime
from daemon.surveys import SurveyType, category

TOKEN = "bench-token"


def serve_crm_and_mail(tickets: int, rate_limit: int, now: datetime, pipe: Connection) -> None:
    """Child process: a sandbox HubSpot with `tickets` recently closed tickets, and a mail sink."""
    from daemon.delivery.sink import LocalMailSink
    from integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

    state = HubSpotState()
    for i in range(tickets):
        contact = state.create_contact(f"customer{i}@example.com", f"Customer{i}", "Bench",
                                       ("en", "fr", "nb", "de", "es")[i % 5])
        closed = now - timedelta(hours=12) + timedelta(seconds=i * 4)
        state.create_ticket(f"Ticket {i}", contact, pipeline="0", closed_at=closed,
                            owner_id=str(i % 17), team_id=str(i % 3))
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=rate_limit) as sandbox, \
            LocalMailSink(port=0) as sink:
        pipe.send((sandbox.url, sink.port))
        pipe.recv()  # wait until the parent is done
        pipe.send(len(sink.received))


def calls(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_sandbox/calls", timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--answer-rate", type=float, default=0.3)
    parser.add_argument("--rate-limit", type=int, default=190,
                        help="sandbox per-10-second limit (HubSpot Professional: 190)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the loop")
    args = parser.parse_args()
    configure("console", level=40)
    now = datetime.now(UTC)

    parent, child = mp.Pipe()
    crm = mp.get_context("spawn").Process(
        target=serve_crm_and_mail, args=(args.tickets, args.rate_limit, now, child), daemon=True)
    seeded = time.perf_counter()
    crm.start()
    sandbox_url, smtp_port = parent.recv()
    print(f"seeded {args.tickets} closed tickets in {time.perf_counter() - seeded:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        clock = [now]
        config = parse_config({
            "daemon": {"state_url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            "sources": {"hubspot": {"crm": "hubspot", "base_url": sandbox_url,
                                    "start_at": (now - timedelta(days=1)).isoformat()}},
            "mail": {"host": "127.0.0.1", "port": smtp_port,
                     "from_address": "feedback@acme.example"},
            "programs": [{"name": "support-csat", "type": "csat", "source": "hubspot",
                          "delay": "1h", "company": "Acme", "pipelines": ["0"]}],
        }, "bench")
        rt = build_runtime(config, Secrets(secret_key="b" * 40, source_tokens={"hubspot": TOKEN}),
                           clock=lambda: clock[0])
        rt.store.migrate()
        mapping = rt.mappings["hubspot"]
        rt.adapters["hubspot"].ensure_properties(mapping.group_name, mapping.group_label,
                                                 mapping.specs())
        urllib.request.urlopen(urllib.request.Request(  # the loop's own calls from here on
            f"{sandbox_url}/_sandbox/calls", method="DELETE"), timeout=10).close()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0, wall0 = time.process_time(), time.perf_counter()

        phases: dict[str, float] = {}

        def phase(name: str, job: Any) -> Any:
            started = time.process_time()
            result = job()
            phases[name] = time.process_time() - started
            return result

        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        polled = phase("poll", rt.poll)["hubspot"]
        clock[0] = now + timedelta(hours=1)
        dispatched = phase("dispatch", rt.dispatch)
        rng = random.Random(1)
        sent_ids = [i for i in range(1, dispatched.sent + 1) if rng.random() < args.answer_rate]

        def answer() -> None:
            for send_id in sent_ids:
                score = rng.randint(1, 5)
                rt.store.record_response(send_id, score, category(SurveyType.CSAT, score),
                                         clock[0])
        phase("answers", answer)
        written = phase("writeback", rt.write_back)["hubspot"]
        if profile:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counted = calls(sandbox_url)
        rt.store.dispose()

    parent.send("done")
    delivered = parent.recv()
    crm.join(timeout=10)
    api_calls = counted["total"]
    surveyed = dispatched.sent
    print(f"tickets closed            {args.tickets}")
    print(f"tickets polled            {polled.tickets} in {polled.pages} pages")
    print(f"surveys sent / delivered  {surveyed} / {delivered}")
    print(f"answers recorded          {len(sent_ids)}")
    print(f"contacts written          {written.contacts}")
    print(f"HubSpot API calls         {api_calls} (429 answers: "
          f"{sum(counted.get('throttled', {}).values())})")
    for endpoint, n in sorted(counted["calls"].items()):
        print(f"    {n:6d}  {endpoint}")
    print(f"API calls per surveyed ticket  {api_calls / max(surveyed, 1):.4f}")
    print(f"CPU ms per ticket              {1000 * cpu / max(args.tickets, 1):.3f} "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in phases.items())})")
    print(f"wall time                      {wall:.1f} s")
    print(f"peak RSS                       {rss_peak / 1024:.0f} MiB "
          f"(+{(rss_peak - rss_before) / 1024:.0f} MiB during the loop)")


if __name__ == "__main__":
    main()
