"""Benchmark: the whole loop for N closed tickets against the sandbox HubSpot or Zendesk.

Prints CRM API calls per surveyed ticket, the daemon's CPU milliseconds per ticket and its
peak memory. The sandbox and the SMTP sink run in a child process, so the figures are the
daemon's alone. Answers are recorded through the store (the web path has its own tests and
costs no CRM call); everything that talks to the CRM or SMTP is the real code, including the
reopened-ticket check right before sending and the ticket hooks after the answers.

    python bench/loop.py --tickets 10000 [--crm hubspot|zendesk] [--answer-rate 0.3]
                         [--rate-limit N] [--no-follow-ups | --no-baseline]

With follow-ups on (the default) the loop runs a second time without them, on a fresh
sandbox with the same tickets and answers, and prints the difference as "extra calls per
100 answers": (calls with follow-ups - calls without) / answers recorded x 100.
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

from closedloop.daemon.config import Secrets, parse_config
from closedloop.daemon.logging import configure
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.surveys import SurveyType, category

TOKEN = "bench-token"


LANGUAGES = ("en", "fr", "nb", "de", "es")
ZENDESK_LOCALES = ("en-US", "fr", "nb", "de", "es")
DEFAULT_RATE = {"hubspot": 190, "zendesk": 700}  # per 10 s (Professional) / per minute (Enterprise)


def serve_crm_and_mail(crm: str, tickets: int, rate_limit: int, now: datetime,
                       pipe: Connection) -> None:
    """Child process: a sandbox CRM with `tickets` recently closed tickets, and a mail sink."""
    from contextlib import AbstractContextManager

    from closedloop.daemon.delivery.sink import LocalMailSink
    from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
    from closedloop.integration.sandbox.hubspot.seed import OWNER_IDS
    from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

    server: AbstractContextManager[Any]
    source: dict[str, Any]
    if crm == "hubspot":
        hs = HubSpotState()
        for i in range(tickets):
            contact = hs.create_contact(f"customer{i}@example.com", f"Customer{i}", "Bench",
                                        LANGUAGES[i % 5])
            closed = now - timedelta(hours=12) + timedelta(seconds=i * 4)
            hs.create_ticket(f"Ticket {i}", contact, pipeline="0", closed_at=closed,
                             owner_id=OWNER_IDS[i % len(OWNER_IDS)], team_id=str(i % 3))
        hs_sandbox = HubSpotSandbox(hs, token=TOKEN, rate_limit_per_10s=rate_limit)
        server, source = hs_sandbox, {"crm": "hubspot"}
    else:
        zd = ZendeskState()
        groups = [zd.create_group(f"Team {g}") for g in range(3)]
        for i in range(tickets):
            closed = now - timedelta(hours=12) + timedelta(seconds=i * 4)
            user = zd.create_user(f"customer{i}@example.com", f"Customer{i} Bench",
                                  locale=ZENDESK_LOCALES[i % 5],
                                  created_at=closed - timedelta(days=30))
            ticket = zd.create_ticket(f"Ticket {i}", user, group_id=groups[i % 3],
                                      created_at=closed - timedelta(hours=1))
            zd.solve_ticket(ticket, at=closed)
        zd_sandbox = ZendeskSandbox(zd, token=TOKEN, rate_limit_per_minute=rate_limit)
        server = zd_sandbox
        source = {"crm": "zendesk", "subdomain": zd_sandbox.subdomain,
                  "email": zd_sandbox.email, "job_poll_interval": "200ms"}
    with server as sandbox, LocalMailSink(port=0) as sink:
        pipe.send((sandbox.url, sink.port, {**source, "base_url": sandbox.url}))
        pipe.recv()  # wait until the parent is done
        pipe.send(len(sink.received))


def calls(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_sandbox/calls", timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--crm", choices=sorted(DEFAULT_RATE), default="hubspot")
    parser.add_argument("--answer-rate", type=float, default=0.3)
    parser.add_argument("--rate-limit", type=int, default=None,
                        help="sandbox limit: HubSpot per 10 s (Professional: 190), Zendesk per "
                             "minute (Enterprise: 700; the export's 10 a minute always holds)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the loop")
    parser.add_argument("--no-follow-ups", action="store_true",
                        help="no [programs.follow_up] (a task / follow-up ticket per unhappy "
                             "answer is on by default)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="with follow-ups on, skip the second run without them that the "
                             "extra calls per 100 answers are measured against")
    args = parser.parse_args()
    configure("console", level=40)
    with_follow_ups, answers = run(args, follow_ups=not args.no_follow_ups, report=True)
    if args.no_follow_ups or args.no_baseline:
        return
    without, _ = run(args, follow_ups=False, report=False)
    extra = with_follow_ups - without
    print(f"follow-up extra calls     {extra} ({with_follow_ups} with follow-ups - {without} "
          f"in the same run without them)")
    print(f"extra calls per 100 answers    {100 * extra / max(answers, 1):.2f} "
          f"(follow-up extra calls / {answers} answers recorded x 100; the budget is 1)")


def run(args: argparse.Namespace, *, follow_ups: bool, report: bool) -> tuple[int, int]:
    """One loop against a fresh sandbox; (CRM API calls, answers recorded)."""
    now = datetime.now(UTC)
    parent, child = mp.Pipe()
    rate = args.rate_limit if args.rate_limit is not None else DEFAULT_RATE[args.crm]
    crm = mp.get_context("spawn").Process(
        target=serve_crm_and_mail, args=(args.crm, args.tickets, rate, now, child), daemon=True)
    seeded = time.perf_counter()
    crm.start()
    sandbox_url, smtp_port, source = parent.recv()
    name = args.crm
    if report:
        print(f"seeded {args.tickets} closed tickets in {time.perf_counter() - seeded:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        clock = [now]
        config = parse_config({
            "daemon": {"state_url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            "sources": {name: {**source,
                               "start_at": (now - timedelta(days=1)).isoformat()}},
            "mail": {"host": "127.0.0.1", "port": smtp_port,
                     "from_address": "feedback@acme.example"},
            # Every customer is distinct and the clock is the benchmark's: no night to wait for.
            "rules": {"quiet_hours": []},
            "programs": [{"name": "support-csat", "type": "csat", "source": name,
                          "delay": "1h", "company": "Acme",
                          **({} if not follow_ups else
                             {"follow_up": {"categories": ["unsatisfied"]}})}],
        }, "bench")
        rt = build_runtime(config, Secrets(secret_key="b" * 40, source_tokens={name: TOKEN}),
                           clock=lambda: clock[0])
        rt.store.migrate()
        mapping = rt.mappings[name]
        rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
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

        profile = cProfile.Profile() if args.profile and report else None
        if profile:
            profile.enable()
        polled = phase("poll", rt.poll)[name]
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
        written = phase("writeback", rt.write_back)[name]
        clock[0] += timedelta(minutes=10)  # the ticket hooks settle for 5 minutes
        hooked = phase("hooks", rt.write_back).get(name)
        if profile:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counted = calls(sandbox_url)
        follow_up_counts = {k.split(".", 1)[1]: v for k, v in rt.store.counts().items()
                      if k.startswith("follow_ups.")}
        rt.close()

    parent.send("done")
    delivered = parent.recv()
    crm.join(timeout=10)
    api_calls = counted["total"]
    surveyed = dispatched.sent
    if not report:
        return api_calls, len(sent_ids)
    print(f"tickets closed            {args.tickets}")
    print(f"tickets polled            {polled.tickets} in {polled.pages} pages")
    print(f"surveys sent / delivered  {surveyed} / {delivered}")
    print(f"answers recorded          {len(sent_ids)}")
    print(f"contacts written          {written.contacts}")
    print(f"tickets hooked            {hooked.tickets if hooked else 0}")
    print(f"follow-ups                {follow_up_counts}")
    print(f"{name} API calls      {api_calls} (429 answers: "
          f"{sum(counted.get('throttled', {}).values())})")
    for endpoint, n in sorted(counted["calls"].items()):
        print(f"    {n:6d}  {endpoint}")
    print(f"API calls per surveyed ticket  {api_calls / max(surveyed, 1):.4f}")
    print(f"API calls per 100 answers      {100 * api_calls / max(len(sent_ids), 1):.2f}")
    print(f"CPU ms per ticket              {1000 * cpu / max(args.tickets, 1):.3f} "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in phases.items())})")
    print(f"wall time                      {wall:.1f} s")
    print(f"peak RSS                       {rss_peak / 1024:.0f} MiB "
          f"(+{(rss_peak - rss_before) / 1024:.0f} MiB during the loop)")
    return api_calls, len(sent_ids)


if __name__ == "__main__":
    if "--steady" in sys.argv[1:]:  # the steady-state mode: bench/steady.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import steady
        steady.main([a for a in sys.argv[1:] if a != "--steady"])
    else:
        main()
