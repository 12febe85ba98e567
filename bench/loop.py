"""Benchmark: the whole loop for N closed tickets against the sandbox HubSpot or Zendesk.

Backlog mode: one big backlog of tickets closed over the last 12 hours (none in the future)
is polled, surveyed, answered and written back, each job run back to back until it has
nothing left. Prints CRM API calls per surveyed ticket, the jobs' CPU milliseconds per
surveyed ticket (poll, dispatch, write-back and hooks; the answers are recorded through the
store and counted apart) and the daemon's peak memory. The sandbox and the SMTP sink run in
a child process, and each CRM and size runs in a fresh process of its own, so the figures
are the daemon's alone. Everything that talks to the CRM or SMTP is the real code, including
the reopened-ticket check right before sending and the ticket hooks after the answers.

    python bench/loop.py --tickets 1000 10000 [--crm hubspot zendesk] [--answer-rate 0.3]
                         [--rate-limit N | --no-limits] [--json] [--profile]
                         [--no-follow-ups | --no-baseline]

With follow-ups on (the default) a single-size run is repeated without them, on a fresh
sandbox with the same tickets and answers, and prints the difference as "extra calls per
100 answers": (calls with follow-ups - calls without) / answers recorded x 100.
`--no-limits` lifts the sandbox's rate limits and the daemon's pacing (a 1 M backlog at
HubSpot's 5 searches a second takes 17 minutes of waiting alone): CPU and memory figures.
`--json` prints one object per CRM and size (keys in FIGURES) and nothing else.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import os
import pstats
import random
import resource
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.logging import configure
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.surveys import SurveyType, category

TOKEN = "bench-token"


LANGUAGES = ("en", "fr", "nb", "de", "es")
ZENDESK_LOCALES = ("en-US", "fr", "nb", "de", "es")
DEFAULT_RATE = {"hubspot": 190, "zendesk": 700}  # per 10 s (Professional) / per minute (Enterprise)
BACKLOG = timedelta(hours=12)  # the tickets closed evenly over the last 12 hours


def closed_at(now: datetime, i: int, tickets: int) -> datetime:
    """When seeded ticket `i` of `tickets` closed: evenly over BACKLOG, the last one 1 s ago
    (never in the future, whatever the size)."""
    step = (BACKLOG - timedelta(seconds=1)) / max(tickets, 1)
    return now - BACKLOG + step * i


def serve_crm_and_mail(crm: str, tickets: int, rate_limit: int, now: datetime,
                       pipe: Connection, no_limits: bool = False) -> None:
    """Child process: a sandbox CRM with `tickets` recently closed tickets, and a mail sink."""
    from contextlib import AbstractContextManager

    from aiosmtpd.controller import Controller

    from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
    from closedloop.integration.sandbox.hubspot.seed import OWNER_IDS
    from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

    configure("console", level=40)  # --json: nothing but the figures on stdout
    server: AbstractContextManager[Any]
    source: dict[str, Any]
    if crm == "hubspot":
        hs = HubSpotState()
        for i in range(tickets):
            contact = hs.create_contact(f"customer{i}@example.com", f"Customer{i}", "Bench",
                                        LANGUAGES[i % 5])
            hs.create_ticket(f"Ticket {i}", contact, pipeline="0",
                             closed_at=closed_at(now, i, tickets),
                             owner_id=OWNER_IDS[i % len(OWNER_IDS)], team_id=str(i % 3))
        limits = ({"rate_limit_per_10s": 0, "search_per_second": 0, "daily_limit": 0}
                  if no_limits else {"rate_limit_per_10s": rate_limit})
        hs_sandbox = HubSpotSandbox(hs, token=TOKEN, **limits)
        server, source = hs_sandbox, {"crm": "hubspot"}
    else:
        zd = ZendeskState()
        groups = [zd.create_group(f"Team {g}") for g in range(3)]
        for i in range(tickets):
            closed = closed_at(now, i, tickets)
            user = zd.create_user(f"customer{i}@example.com", f"Customer{i} Bench",
                                  locale=ZENDESK_LOCALES[i % 5],
                                  created_at=closed - timedelta(days=30))
            ticket = zd.create_ticket(f"Ticket {i}", user, group_id=groups[i % 3],
                                      created_at=closed - timedelta(hours=1))
            zd.solve_ticket(ticket, at=closed)
        zd_limits = ({"rate_limit_per_minute": 0, "incremental_per_minute": 0,
                      "search_export_per_minute": 0}
                     if no_limits else {"rate_limit_per_minute": rate_limit})
        zd_sandbox = ZendeskSandbox(zd, token=TOKEN, **zd_limits)
        server = zd_sandbox
        source = {"crm": "zendesk", "subdomain": zd_sandbox.subdomain,
                  "email": zd_sandbox.email, "job_poll_interval": "200ms"}
    if no_limits:
        source["pacing"] = False
    counter = CountingSink()
    sink = Controller(counter, hostname="127.0.0.1", port=free_port())
    sink.start()
    try:
        with server as sandbox:
            pipe.send((sandbox.url, sink.port, {**source, "base_url": sandbox.url}))
            pipe.recv()  # wait until the parent is done
            pipe.send(counter.received)
    finally:
        sink.stop()


class CountingSink:
    """aiosmtpd handler that counts what it accepts: the tests' LocalMailSink parses and
    keeps every message, which a million mails would not fit in."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def calls(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_sandbox/calls", timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


@dataclass
class Figures:
    """One backlog run. Each ratio's numerator and denominator are fields of their own."""

    crm: str
    tickets: int  # closed tickets seeded (all closed before the run starts)
    surveyed: int  # surveys sent (the denominator of the per-ticket figures)
    answers: int  # answers recorded through the store
    api_calls: int  # the sandbox's count of the loop's calls (setup excluded)
    throttled: int  # of them answered 429
    calls_per_surveyed_ticket: float  # api_calls / surveyed
    jobs_cpu_s: float  # process CPU of poll + dispatch + write-back + hooks
    jobs_cpu_ms_per_ticket: float  # 1000 x jobs_cpu_s / surveyed
    answers_cpu_s: float  # recording the answers (the web's work, without HTTP)
    peak_mib: float  # the daemon process's peak RSS (ru_maxrss), whole run
    run_s: float  # wall time of the jobs and answers (seeding excluded)
    seed_s: float  # wall time to seed the sandbox
    load: tuple[float, float, float]  # os.getloadavg() at the end
    limits: str  # "sandbox" (the CRM's rate limits, paced) or "none" (--no-limits)
    phases_cpu_s: dict[str, float] = field(default_factory=dict)
    contacts_written: int = 0
    tickets_hooked: int = 0
    follow_ups: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    polled: int = 0
    pages: int = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[10_000])
    parser.add_argument("--crm", choices=sorted(DEFAULT_RATE), nargs="+", default=["hubspot"])
    parser.add_argument("--answer-rate", type=float, default=0.3)
    parser.add_argument("--rate-limit", type=int, default=None,
                        help="sandbox limit: HubSpot per 10 s (Professional: 190), Zendesk per "
                             "minute (Enterprise: 700; the export's 10 a minute always holds)")
    parser.add_argument("--no-limits", action="store_true",
                        help="no sandbox rate limits and no pacing (CPU and memory figures)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per CRM and size, nothing else")
    parser.add_argument("--profile", nargs="?", const="-", default=None, metavar="FILE",
                        help="print a cProfile of the jobs (and save it to FILE if given)")
    parser.add_argument("--no-follow-ups", action="store_true",
                        help="no [programs.follow_up] (a task / follow-up ticket per unhappy "
                             "answer is on by default)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="with follow-ups on, skip the second run without them that the "
                             "extra calls per 100 answers are measured against")
    args = parser.parse_args()
    backlog(args)


def backlog(args: argparse.Namespace) -> None:
    """Backlog mode: each CRM and size in a fresh process (peak memory is per run)."""
    single = len(args.crm) * len(args.tickets) == 1
    for crm in args.crm:
        for tickets in args.tickets:
            figures = in_process(args, crm, tickets, follow_ups=not args.no_follow_ups,
                                 profile=None if args.json else args.profile)
            if args.json:
                print(json.dumps(asdict(figures)), flush=True)
                continue
            report(figures)
            if single and not (args.no_follow_ups or args.no_baseline):
                without = in_process(args, crm, tickets, follow_ups=False, profile=None)
                extra = figures.api_calls - without.api_calls
                print(f"follow-up extra calls     {extra} ({figures.api_calls} with follow-ups"
                      f" - {without.api_calls} in the same run without them)")
                print(f"extra calls per 100 answers    "
                      f"{100 * extra / max(figures.answers, 1):.2f} (follow-up extra calls / "
                      f"{figures.answers} answers recorded x 100; the budget is 1)")


def in_process(args: argparse.Namespace, crm: str, tickets: int, *, follow_ups: bool,
               profile: str | None) -> Figures:
    """`run` in a spawned process of its own; its Figures."""
    parent, child = mp.Pipe()
    worker = mp.get_context("spawn").Process(
        target=_run_child, args=(args, crm, tickets, follow_ups, profile, child))
    worker.start()
    figures = Figures(**parent.recv())  # a dict: the child's classes live in __mp_main__
    worker.join()
    return figures


def _run_child(args: argparse.Namespace, crm: str, tickets: int, follow_ups: bool,
               profile: str | None, pipe: Connection) -> None:
    configure("console", level=40)
    pipe.send(asdict(run(args, crm, tickets, follow_ups=follow_ups, profile=profile)))


def _until_idle(job: Any, name: str, done: Any) -> Any:
    """Run a job back to back until a run finds nothing (`done(result)` false); the sum."""
    total = None
    while True:
        result = job().get(name)
        if result is None or not done(result):
            return total if total is not None else result
        total = result if total is None else _added(total, result)


def _added(a: Any, b: Any) -> Any:
    return type(a)(**{k: getattr(a, k) + getattr(b, k) for k in vars(a)})


def run(args: argparse.Namespace, name: str, tickets: int, *, follow_ups: bool,
        profile: str | None) -> Figures:
    """One loop against a fresh sandbox."""
    now = datetime.now(UTC)
    parent, child = mp.Pipe()
    rate = args.rate_limit if args.rate_limit is not None else DEFAULT_RATE[name]
    crm = mp.get_context("spawn").Process(
        target=serve_crm_and_mail, args=(name, tickets, rate, now, child, args.no_limits),
        daemon=True)
    seeded = time.perf_counter()
    crm.start()
    sandbox_url, smtp_port, source = parent.recv()
    seed_s = time.perf_counter() - seeded

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
        wall0 = time.perf_counter()

        phases: dict[str, float] = {}

        def phase(label: str, job: Any) -> Any:
            started = time.process_time()
            result = job()
            phases[label] = time.process_time() - started
            return result

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        polled = phase("poll", rt.poll)[name]  # one run reads the whole backlog
        clock[0] = now + timedelta(hours=1)
        dispatched = phase("dispatch", rt.dispatch)
        rng = random.Random(1)
        answered = 0

        def answer() -> None:
            nonlocal answered
            for send_id in range(1, dispatched.sent + 1):
                if rng.random() < args.answer_rate:
                    score = rng.randint(1, 5)
                    rt.store.record_response(send_id, score, category(SurveyType.CSAT, score),
                                             clock[0])
                    answered += 1
        phase("answers", answer)
        written = phase("writeback", lambda: _until_idle(rt.write_back, name,
                                                         lambda r: r.contacts or r.rows))
        clock[0] += timedelta(minutes=10)  # the ticket hooks settle for 5 minutes
        hooked = phase("hooks", lambda: _until_idle(rt.write_back, name, lambda r: r.tickets))
        if profiler:
            profiler.disable()
            if profile != "-":
                profiler.dump_stats(profile)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        run_s = time.perf_counter() - wall0
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counted = calls(sandbox_url)
        follow_up_counts = {k.split(".", 1)[1]: v for k, v in rt.store.counts().items()
                            if k.startswith("follow_ups.")}
        rt.close()

    parent.send("done")
    delivered = parent.recv()
    crm.join(timeout=10)
    surveyed = dispatched.sent
    jobs_cpu = sum(v for k, v in phases.items() if k != "answers")
    return Figures(
        crm=name, tickets=tickets, surveyed=surveyed, answers=answered,
        api_calls=counted["total"], throttled=sum(counted.get("throttled", {}).values()),
        calls_per_surveyed_ticket=round(counted["total"] / max(surveyed, 1), 4),
        jobs_cpu_s=round(jobs_cpu, 3),
        jobs_cpu_ms_per_ticket=round(1000 * jobs_cpu / max(surveyed, 1), 3),
        answers_cpu_s=round(phases["answers"], 3), peak_mib=round(rss_peak / 1024, 1),
        run_s=round(run_s, 1), seed_s=round(seed_s, 1),
        load=tuple(round(x, 2) for x in os.getloadavg()),  # type: ignore[arg-type]
        limits="none" if args.no_limits else "sandbox",
        phases_cpu_s={k: round(v, 3) for k, v in phases.items()},
        contacts_written=written.contacts if written else 0,
        tickets_hooked=hooked.tickets if hooked else 0,
        follow_ups=follow_up_counts, calls=dict(sorted(counted["calls"].items())),
        delivered=delivered, polled=polled.tickets, pages=polled.pages)


def report(f: Figures) -> None:
    """The human-readable lines for one run."""
    print(f"seeded {f.tickets} closed tickets in {f.seed_s:.1f} s")
    print(f"tickets closed            {f.tickets}")
    print(f"tickets polled            {f.polled} in {f.pages} pages")
    print(f"surveys sent / delivered  {f.surveyed} / {f.delivered}")
    print(f"answers recorded          {f.answers}")
    print(f"contacts written          {f.contacts_written}")
    print(f"tickets hooked            {f.tickets_hooked}")
    print(f"follow-ups                {f.follow_ups}")
    print(f"{f.crm} API calls      {f.api_calls} (429 answers: {f.throttled})")
    for endpoint, n in f.calls.items():
        print(f"    {n:6d}  {endpoint}")
    print(f"API calls per surveyed ticket  {f.calls_per_surveyed_ticket:.4f} "
          f"({f.api_calls} / {f.surveyed})")
    print(f"API calls per 100 answers      {100 * f.api_calls / max(f.answers, 1):.2f}")
    print(f"jobs CPU ms per surveyed ticket {f.jobs_cpu_ms_per_ticket:.3f} "
          f"({f.jobs_cpu_s:.1f} s / {f.surveyed}; "
          f"{', '.join(f'{k} {v:.1f} s' for k, v in f.phases_cpu_s.items())})")
    print(f"run time                       {f.run_s:.1f} s (limits: {f.limits})")
    print(f"peak RSS                       {f.peak_mib:.0f} MiB")
    print(f"load average                   {' '.join(f'{x:.2f}' for x in f.load)}")
    sys.stdout.flush()


if __name__ == "__main__":
    if "--steady" in sys.argv[1:]:  # the steady-state mode: bench/steady.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import steady
        steady.main([a for a in sys.argv[1:] if a != "--steady"])
    else:
        main()
