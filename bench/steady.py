"""Steady-state benchmark: tickets close over simulated days, the daemon's jobs run at their
default intervals on a simulated clock, against a sandbox CRM in a child process.

    python bench/loop.py --steady [--crm hubspot|zendesk] [--per-day 1000,10000,100000]
                         [--days N | --hours H] [--warmup DAYS]
                         [--notifications on|off|both] [--json] [--profile FILE]

What runs: every scheduled job of `closedloop run` at the intervals the config gives them, as
daemon/service.py schedules them (defaults: dispatch every 30 s; poll at its adaptive pace,
intake, write-back, outbound webhooks, alerts, bounces, themes and reports every minute; the
NPS cadence every 6 h), called in turn on a clock the benchmark moves by 30 s a tick. The CRM
is the sandbox (real HTTP, real SDKs) in a child process at its account's default limits;
with notifications on, it POSTs signed change notifications to the daemon's real web app
(uvicorn, in this process), as `closedloop setup` configures them. Customers answer over
HTTP as a browser would: the mail's one-click link (GET), the landing page's scripted POST,
then the comment page and, for a third of the answers, a comment.

The mix: tickets close on a daily curve (busiest 9-17 UTC), never after the simulated clock;
30 % are repeat customers of the last days (the 7-day cooldown skips them), 2 % have no
address, 10 % are in a pipeline/brand no program surveys, 6 % reopen before their survey is
due (half are solved again hours later); about 30 % of surveys are answered, a median two
hours after sending.

A day runs from 00:00 UTC after a warm-up day of the same arrivals that no figure counts
(`--warmup`): a measured day that starts from empty queues lacks the surveys the previous
evening's quiet hours held until morning and the answers still to come from earlier sends,
while its own evening's are cut off (measured without it, at 1,000 a day: 0.49–0.52 calls per
surveyed ticket by the hour a run began). `--hours H` runs H busy hours from 08:00 UTC, without
warm-up, drain or idle day: a quick look, not a steady state.

Figures (per CRM, volume and notifications on/off), each divided by what it names:
- calls per surveyed ticket: every CRM call answered by the sandbox during the busy days ÷
  the surveys actually sent in them (not the tickets closed);
- calls per day: the busy days' calls ÷ days; idle calls per day: the calls of 24 h with no
  arrivals and no answers, after a 10-h drain (past the quiet hours);
- 429s (avoidable: the sandbox says our own requests alone filled the window; by endpoint
  in `throttled_by_endpoint`); the sandbox's windows start empty each tick, since a day
  passes in minutes of real time, and the daemon's pacing is off here (real-time pacing
  would stretch the compressed day), so a 429 here is the compressed time's, not a pacing
  fault: pacing is what bench/writeback.py measures (share of the ceiling, 0 avoidable);
- jobs CPU ms per surveyed ticket: the CPU time of the job calls (this process's thread
  running them; the sandbox and the mail sink run in the child) ÷ surveys sent;
- web CPU ms per answer: this process's CPU outside the jobs thread while the answers are
  given (the web server's threads) ÷ answers recorded;
- peak MiB: this process's peak resident memory (a process per run);
- write-back p95: answer recorded → on the CRM record, simulated seconds, 95th percentile;
- run time: wall seconds for the run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from steady_crm import QUEUES, TOKEN, serve

TICK = timedelta(seconds=30)
# After the measured day (ending at midnight), until the last closures' surveys have gone:
# the quiet hours (21:00-08:00) hold the evening's until 08:00, then the sends window (45
# min). A 6-h drain left ~350 of them (at 10,000 a day) to the "idle" day, whose jobs' CPU
# was then mostly their dispatch.
DRAIN = timedelta(hours=10)
# Share of the day's closures per UTC hour (support teams' working day).
CURVE = (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1)
BUSY_FROM = 8  # UTC hour a `--hours` run starts at (CURVE's working day)
LANGUAGES = ("en", "fr", "nb", "de", "es")
HOOK_SECRET = "bench-hook-secret"
REPEAT, NO_EMAIL, OTHER_QUEUE, REOPEN, ANSWER, COMMENT = 0.30, 0.02, 0.10, 0.06, 0.30, 1 / 3


@dataclass
class Tally:
    """CPU seconds per job and what the jobs did."""

    jobs_cpu: dict[str, float] = field(default_factory=dict)
    web_cpu: float = 0.0
    answers: int = 0
    comments: int = 0
    web_requests: int = 0
    sent: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)

    def since(self, earlier: Tally) -> Tally:
        """What happened after `earlier` (a snapshot of the same run)."""
        def minus(now: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
            return {k: v - then.get(k, 0) for k, v in now.items() if v - then.get(k, 0)}
        return Tally(minus(self.jobs_cpu, earlier.jobs_cpu), self.web_cpu - earlier.web_cpu,
                     self.answers - earlier.answers, self.comments - earlier.comments,
                     self.web_requests - earlier.web_requests, self.sent - earlier.sent,
                     self.skipped - earlier.skipped,
                     minus(self.skip_reasons, earlier.skip_reasons),
                     minus(self.wall, earlier.wall))


class SimClock:
    """The jobs' clock (Runtime.clock) and a monotonic clock in simulated seconds for the
    inbound endpoints' token bucket (a simulated day passes in minutes)."""

    def __init__(self, start: datetime) -> None:
        self.start = self.now = start

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self.start).total_seconds() + time.monotonic() % 1


class Kicks:
    """Stands in for the runtime's intake kick: the benchmark runs the intake at the next
    tick (the daemon runs it 2 s after a burst, by a timer thread this loop does not have)."""

    def __init__(self) -> None:
        self.kicked = False

    def kick(self, _source: str = "") -> None:
        self.kicked = True

    def cancel(self) -> None:
        self.kicked = False


def run_one(crm: str, per_day: int, days: float, notifications: bool,
            seed: int = 1, idle: bool = True, profile: str | None = None,
            coalescing: dict[str, str] | None = None, warmup: float = 1.0,
            intervals: dict[str, str] | None = None) -> dict[str, Any]:
    """One run in this process (call it in a fresh process: peak memory is the process's).

    `idle` False (`--hours`): the busy period only, no drain and no idle day (idle calls and
    tickets missed are then None: the last closures are still on their way). `profile`:
    cProfile this process's main thread (the jobs, the answers' client, the loop) into
    `profile` and the CRM child's into `profile`.crm. `coalescing`: [coalescing] windows other
    than the defaults (what a longer window saves; the row says which were used). `warmup`:
    days of the same arrivals run first and counted nowhere (steady state, not a cold start).
    """
    import httpx

    from closedloop.daemon.config import parse_config
    from closedloop.daemon.env_secrets import Secrets
    from closedloop.daemon.logging import configure
    from closedloop.daemon.notify_setup import TRIGGER_NAME
    from closedloop.daemon.runtime import build_runtime
    from closedloop.daemon.service import BackgroundService
    from closedloop.daemon.web.hooks.limiter import TokenBucket
    from closedloop.integration.zendesk import ZendeskAdapter

    configure("console", level=40)
    wall0 = time.perf_counter()
    parent, child_end = mp.Pipe()
    child = mp.get_context("spawn").Process(
        target=serve, args=(crm, child_end, f"{profile}.crm" if profile else None), daemon=True)
    child.start()
    sandbox_url, smtp_port, source = parent.recv()

    def ask(*message: Any) -> Any:
        parent.send(message)
        return parent.recv()

    # A fixed time of day, so runs compare whenever they start: a day from midnight (UTC, as
    # CURVE), or `--hours` from BUSY_FROM (before, from the wall clock's hour: six hours
    # begun at 19:00 saw a sixth of the closures six begun at 08:00 saw).
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight + (timedelta(0) if idle else timedelta(hours=BUSY_FROM))
    clock = SimClock(start)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({
            "daemon": {**(intervals or {}),
                       "state_url": f"sqlite:///{Path(tmp) / 'steady.db'}",
                       "public_url": f"http://127.0.0.1:{port}", "listen_port": port},
            "sources": {crm: {**source, "start_at": (start - timedelta(minutes=10)).isoformat(),
                              "notifications": notifications, "pacing": False}},
            "mail": {"host": "127.0.0.1", "port": smtp_port,
                     "from_address": "feedback@acme.example"},
            **({"coalescing": coalescing} if coalescing else {}),
            "programs": [{"name": "support-csat", "type": "csat", "source": crm, "delay": "1h",
                          "company": "Acme", "pipelines": [QUEUES[crm][0]]}],
        }, "bench")
        target = f"http://127.0.0.1:{port}/hooks/{crm}"
        hook_secret = None
        if notifications:
            if crm == "hubspot":
                hook_secret = ask("subscribe", target, HOOK_SECRET, None)
            else:
                with ZendeskAdapter(crm, subdomain=source["subdomain"], email=source["email"],
                                    token=TOKEN, base_url=sandbox_url) as adapter:
                    made = adapter.ensure_solved_trigger(TRIGGER_NAME, target)
                hook_secret = ask("subscribe", target, None, made.webhook_id)
        secrets = Secrets(secret_key="s" * 40, source_tokens={crm: TOKEN},
                          source_hook_secrets={crm: hook_secret} if hook_secret else {})
        rt = build_runtime(config, secrets, clock=clock)
        rt.store.migrate()
        mapping = rt.mappings[crm]
        rt.adapters[crm].ensure_properties(mapping.group_name, mapping.group_label,
                                           mapping.specs())
        kicks = Kicks()
        rt.intake_kick = kicks  # type: ignore[assignment]
        web = BackgroundService(rt, port=port)
        web.server.config.app = rt.web_app(hook_limiter=TokenBucket(clock=clock.monotonic))
        web.start(jobs=False)
        ask("reset_calls")
        sim = _Simulation(rt, clock, ask, random.Random(seed), per_day, kicks,
                          httpx.Client(timeout=30))
        profiler = cProfile.Profile() if profile else None
        try:
            # The warm-up runs the same arrivals first, counted nowhere: a measured day that
            # starts from empty queues lacks the evening's surveys held by the quiet hours
            # until morning and the answers still to come, and its end cuts its own.
            busy_from = start + timedelta(days=warmup)
            sim.run_until(busy_from, arrivals=True)
            ask("reset_calls")
            warm_tally, warm_closed = sim.snapshot(), sim.closed_in_busy
            busy_end = busy_from + timedelta(days=days)
            if profiler:
                profiler.enable()
            sim.run_until(busy_end, arrivals=True)
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
            busy = ask("calls")
            busy_tally = sim.snapshot().since(warm_tally)
            idle_calls: dict[str, Any] = {"total": None, "calls": None}
            idle_cpu: float | None = None
            idle_by_job: dict[str, float] | None = None
            if idle:
                sim.run_until(busy_end + DRAIN, arrivals=False)
                ask("reset_calls")
                sim.answering, sim.answers = False, []  # the idle day: nobody answers either
                before = sim.snapshot()
                sim.run_until(busy_end + DRAIN + timedelta(days=1), arrivals=False)
                idle_calls = ask("calls")
                idle_by_job = sim.snapshot().since(before).jobs_cpu
                idle_cpu = sum(idle_by_job.values())
            p95 = _writeback_p95(rt.store, busy_from)
            # without the drain the last closures are still on their way (the intake
            # window): not a miss, so not counted at all
            missed = _missed(rt.store, {sim.tickets[k] for k in sim.in_program - sim.reopened
                                        if k in sim.tickets}) if idle else None
        finally:
            sim.web.close()
            web.stop()
            rt.close()
            ask("stop")
            child.join(timeout=10)
    sent = max(busy_tally.sent, 1)
    jobs_cpu = sum(busy_tally.jobs_cpu.values())
    return {
        "crm": crm, "per_day": per_day, "days": days, "warmup_days": warmup,
        "notifications": notifications,
        "coalescing": coalescing or "defaults", "intervals": intervals or "defaults",
        "surveys_sent": busy_tally.sent, "skipped": busy_tally.skipped,
        "skipped_by_reason": busy_tally.skip_reasons,
        "tickets_closed": sim.closed_in_busy - warm_closed, "answers": busy_tally.answers,
        "calls": busy["total"],
        "calls_per_surveyed_ticket": round(busy["total"] / sent, 4),
        "calls_per_day": round(busy["total"] / days, 1),
        "idle_calls_per_day": idle_calls["total"],
        # the jobs' CPU of a day without a ticket: the fixed cost every surveyed ticket shares
        "idle_jobs_cpu_s_per_day": None if idle_cpu is None else round(idle_cpu, 2),
        "idle_jobs_cpu_s_by_job": None if idle_by_job is None
        else {k: round(v, 3) for k, v in sorted(idle_by_job.items())},
        "throttled_429s": sum(busy["throttled"].values()),
        "throttled_by_endpoint": dict(sorted(busy["throttled"].items())),
        "avoidable_429s": busy["refused"]["avoidable"],
        "jobs_cpu_ms_per_ticket": round(1000 * jobs_cpu / sent, 3),
        "jobs_cpu_s": {k: round(v, 2) for k, v in sorted(busy_tally.jobs_cpu.items())},
        "web_cpu_ms_per_answer": round(1000 * busy_tally.web_cpu / max(busy_tally.answers, 1),
                                       3),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "writeback_p95_s": p95,
        "tickets_missed": missed,
        "run_s": round(time.perf_counter() - wall0, 1),
        "calls_by_endpoint": dict(sorted(busy["calls"].items(), key=lambda kv: -kv[1])),
        "idle_calls_by_endpoint": idle_calls["calls"],
        "wall_s": {k: round(v, 1) for k, v in sorted(busy_tally.wall.items(),
                                                      key=lambda kv: -kv[1])},
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


class _Simulation:
    """The tick loop: CRM events, the scheduled jobs, the customers' answers."""

    def __init__(self, rt: Any, clock: SimClock, ask: Any, rng: random.Random, per_day: int,
                 kicks: Kicks, web: Any) -> None:
        self.rt, self.clock, self.ask, self.rng, self.kicks, self.web = \
            rt, clock, ask, rng, kicks, web
        from closedloop.daemon.service import job_schedule

        settings = rt.config.daemon  # the daemon's own table: each job and its interval
        self.jobs = {name: (job, every) for name, job, every in job_schedule(
            rt, settings.poll_every, settings.dispatch_every, settings.writeback_every,
            settings.cadence_every)}
        self.per_day = per_day
        self.tally = Tally()
        self.carry = 0.0
        self.next_key = 0
        self.customers = 0
        self.recent: list[int] = []  # customers of the last days, for repeats
        self.later: list[tuple[datetime, tuple[Any, ...]]] = []  # reopen/solve by key
        self.tickets: dict[int, str] = {}
        self.answers: list[tuple[datetime, str]] = []  # (when, link stem)
        self.closed_in_busy = 0
        self.in_program: set[int] = set()  # keys of tickets closed in the surveyed queue
        self.reopened: set[int] = set()  # keys of tickets open again at the end
        self.answering = True
        self.ticks = 0
        self.wall0 = time.perf_counter()

    def snapshot(self) -> Tally:
        return Tally(dict(self.tally.jobs_cpu), self.tally.web_cpu, self.tally.answers,
                     self.tally.comments, self.tally.web_requests, self.tally.sent,
                     self.tally.skipped, dict(self.tally.skip_reasons), dict(self.tally.wall))

    def _timed(self, name: str, started: float) -> None:
        """Add the wall seconds since `started` to phase `name` (where the run's time goes)."""
        self.tally.wall[name] = self.tally.wall.get(name, 0.0) + time.perf_counter() - started

    def run_until(self, end: datetime, *, arrivals: bool) -> None:
        while self.clock.now < end:
            self.tick(arrivals)
            self.clock.now += TICK
            self.ticks += 1
            if self.ticks % 720 == 0:
                self._progress()

    def _progress(self) -> None:
        """Every 6 simulated hours, the running figures on stderr: how far a run that
        cannot finish got (calls: since the busy period began; in the idle day, since it began)."""
        calls = self.ask("calls")["total"]
        sent = max(self.tally.sent, 1)
        print(f"  .. {self.ticks * TICK.seconds / 3600:.0f} h simulated, "
              f"{self.tally.sent} sent, {self.tally.answers} answers, {calls} calls "
              f"({calls / sent:.4f} per sent), jobs CPU "
              f"{1000 * sum(self.tally.jobs_cpu.values()) / sent:.2f} ms per sent, peak "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, wall "
              f"{time.perf_counter() - self.wall0:.0f} s, load {os.getloadavg()[0]:.1f}",
              file=sys.stderr, flush=True)

    def tick(self, arrivals: bool) -> None:
        now = self.clock.now
        events = self._arrivals(now) if arrivals else []
        due = [e for e in self.later if e[0] <= now]
        self.later = [e for e in self.later if e[0] > now]
        events += [(kind, self.tickets[key], at) for at, (kind, key) in due
                   if key in self.tickets]
        for _, (kind, key) in due:  # a reopened ticket not solved again is owed no survey
            (self.reopened.add if kind == "reopen" else self.reopened.discard)(key)
        started = time.perf_counter()
        made, links = self.ask("tick", events)
        self._timed("crm_tick", started)
        self.tickets.update(made)
        self._schedule_answers(now, links)
        elapsed = now - self.clock.start

        def due(every: timedelta) -> bool:  # the scheduler's interval, in whole ticks
            return elapsed % max(every, TICK) < TICK

        intake, every = self.jobs["intake"]
        if self.kicks.kicked or due(every):
            self.kicks.kicked = False
            self._job("intake", intake)
        dispatch, every = self.jobs["dispatch"]
        if due(every):
            result = self._job("dispatch", dispatch)
            self.tally.sent += result.sent
            self.tally.skipped += sum(result.skipped.values())
            for reason, n in result.skipped.items():
                self.tally.skip_reasons[reason] = self.tally.skip_reasons.get(reason, 0) + n
        for name in ("poll", "writeback", "webhooks", "alerts", "bounces", "themes", "reports",
                     "cadence"):
            job, every = self.jobs[name]
            if due(every):  # tallied by the Runtime method's name, as before
                self._job(job.__name__, job)
        self._answer(now)

    def _job(self, name: str, job: Any) -> Any:
        started, wall = time.thread_time(), time.perf_counter()
        try:
            return job()
        finally:
            self.tally.jobs_cpu[name] = self.tally.jobs_cpu.get(name, 0.0) + \
                time.thread_time() - started
            self._timed(f"job:{name}", wall)

    def _arrivals(self, now: datetime) -> list[tuple[Any, ...]]:
        self.carry += self.per_day * CURVE[now.hour] / sum(CURVE) / (3600 / TICK.seconds)
        count, self.carry = int(self.carry), self.carry - int(self.carry)
        events: list[tuple[Any, ...]] = []
        rng = self.rng
        for _ in range(count):
            if self.recent and rng.random() < REPEAT:
                customer = rng.choice(self.recent)
            else:
                customer = self.customers
                self.customers += 1
                self.recent.append(customer)
                if len(self.recent) > self.per_day * 3:
                    self.recent = self.recent[-self.per_day * 2:]
            email = None if customer % 50 == 49 else f"c{customer}@example.com"
            key, self.next_key = self.next_key, self.next_key + 1
            at = now - TICK * rng.random()  # closed within the last tick, never later
            surveyed = rng.random() >= OTHER_QUEUE
            if surveyed:
                self.in_program.add(key)
            events.append(("close", key, customer, email, LANGUAGES[customer % 5],
                           surveyed, at))
            if rng.random() < REOPEN:
                reopen = at + timedelta(minutes=rng.uniform(5, 50))
                self.later.append((reopen, ("reopen", key)))
                if rng.random() < 0.5:
                    self.later.append((reopen + timedelta(hours=rng.uniform(1, 3)),
                                       ("solve", key)))
        self.closed_in_busy += count
        return events

    def _schedule_answers(self, now: datetime, links: list[tuple[str, str]]) -> None:
        for _, stem in links:
            if self.answering and self.rng.random() < ANSWER:
                delay = timedelta(minutes=max(1.0, self.rng.expovariate(1 / 170)))
                self.answers.append((now + delay, stem))

    def _answer(self, now: datetime) -> None:
        due = [a for a in self.answers if a[0] <= now]
        if not due:
            return
        self.answers = [a for a in self.answers if a[0] > now]
        cpu0, mine0, wall = time.process_time(), time.thread_time(), time.perf_counter()
        for _, stem in due:
            score = self.rng.choices((1, 2, 3, 4, 5), (5, 5, 10, 30, 50))[0]
            link = f"{stem}{score}"
            page = self.web.get(link)  # the mail's one-click link
            answered = self.web.post(link, data={"via": "script"}, follow_redirects=True)
            self.tally.web_requests += 3
            if page.status_code != 200 or answered.status_code != 200:
                continue
            self.tally.answers += 1
            if self.rng.random() < COMMENT:
                self.web.post(str(answered.url), data={"comment": "Quick and kind, thanks."},
                              follow_redirects=True)
                self.tally.comments += 1
                self.tally.web_requests += 2
        self.tally.web_cpu += (time.process_time() - cpu0) - (time.thread_time() - mine0)
        self._timed("answers", wall)


def _writeback_p95(store: Any, since: datetime) -> float | None:
    """95th percentile of (written to the CRM - recorded) for answer rows recorded from
    `since` on, in seconds."""
    from sqlalchemy import select

    from closedloop.daemon.store.sends import WRITEBACKS

    with store.engine.connect() as conn:
        rows = conn.execute(select(WRITEBACKS.c.created_at, WRITEBACKS.c.written_at).where(
            WRITEBACKS.c.kind == "answer", WRITEBACKS.c.written_at.is_not(None),
            WRITEBACKS.c.created_at >= since)).all()
    delays = sorted((w - c).total_seconds() for c, w in rows)
    if not delays:
        return None
    return round(delays[min(len(delays) - 1, int(0.95 * len(delays)))], 1)


def _missed(store: Any, tickets: set[str]) -> int:
    """Tickets closed (and not reopened since) in the surveyed queue that have no outbox row
    at all (sent, skipped or cancelled): what notifications and the safety poll missed."""
    from sqlalchemy import select

    from closedloop.daemon.store.sends import SENDS

    with store.engine.connect() as conn:
        seen = {str(t) for t in conn.scalars(select(SENDS.c.ticket_id).distinct())}
    return len(tickets - seen)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(pipe: Any, *args: Any) -> None:
    pipe.send(run_one(*args))


def run_isolated(crm: str, per_day: int, days: float, notifications: bool, idle: bool = True,
                 profile: str | None = None, coalescing: dict[str, str] | None = None,
                 warmup: float = 1.0,
                 intervals: dict[str, str] | None = None) -> dict[str, Any]:
    """`run_one` in a fresh process, so each run's peak memory is its own."""
    parent, child_end = mp.Pipe()
    worker = mp.get_context("spawn").Process(
        target=_worker,
        args=(child_end, crm, per_day, days, notifications, 1, idle, profile, coalescing,
              warmup, intervals))
    worker.start()
    child_end.close()
    try:
        result: dict[str, Any] = parent.recv()
    except EOFError:
        raise SystemExit(f"the {crm} {per_day}/day run failed (see above)") from None
    worker.join()
    return result


def print_row(row: dict[str, Any]) -> None:
    print(f"{row['crm']} {row['per_day']}/day x {row['days']} days after "
          f"{row['warmup_days']} of warm-up, notifications "
          f"{'on' if row['notifications'] else 'off'}, [coalescing] {row['coalescing']}, "
          f"[daemon] {row['intervals']} "
          f"(load {row['loadavg']})")
    print(f"  tickets closed {row['tickets_closed']}, surveys sent {row['surveys_sent']}, "
          f"skipped {row['skipped']}, answers over HTTP {row['answers']}")
    print(f"  calls per surveyed ticket  {row['calls_per_surveyed_ticket']} "
          f"({row['calls']} calls / {row['surveys_sent']} surveys sent)")
    print(f"  calls per day {row['calls_per_day']}, idle calls per day "
          f"{row['idle_calls_per_day']}, 429s {row['throttled_429s']} "
          f"(avoidable {row['avoidable_429s']})")
    print(f"  jobs CPU ms per surveyed ticket {row['jobs_cpu_ms_per_ticket']} "
          f"(seconds by job: {row['jobs_cpu_s']}); jobs CPU of the idle day "
          f"{row['idle_jobs_cpu_s_per_day']} s {row['idle_jobs_cpu_s_by_job']}")
    print(f"  web CPU ms per answer {row['web_cpu_ms_per_answer']}, peak {row['peak_mib']} MiB, "
          f"write-back p95 {row['writeback_p95_s']} s, run {row['run_s']} s")
    print(f"  tickets missed (surveyed queue, no outbox row) {row['tickets_missed']}"
          + (" (--hours: no drain, not counted)" if row["tickets_missed"] is None else ""))
    for endpoint, n in row["calls_by_endpoint"].items():
        print(f"    {n:7d}  {endpoint}")
    print(f"  idle day: {row['idle_calls_by_endpoint']}")
    print(f"  wall seconds by phase: {row['wall_s']}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/loop.py --steady",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--crm", choices=("hubspot", "zendesk", "both"), default="both")
    parser.add_argument("--per-day", default="1000,10000,100000")
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--hours", type=float, default=None,
                        help="a short run: this many busy hours from 08:00 UTC, no drain "
                             "or idle day (idle calls are then null); overrides --days")
    parser.add_argument("--warmup", type=float, default=None,
                        help="days of the same arrivals run first and counted nowhere "
                             "(default 1; 0 with --hours)")
    parser.add_argument("--profile", default=None,
                        help="cProfile the busy period into FILE.<crm>.<per_day> "
                             "(the CRM child's into ….crm)")
    parser.add_argument("--notifications", choices=("on", "off", "both"), default="both")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--daemon", action="append", default=[], metavar="KEY=DURATION",
                        help="a [daemon] job interval other than the default, e.g. "
                             "writeback_every=30s (repeatable; the row says which)")
    parser.add_argument("--coalescing", action="append", default=[], metavar="KEY=DURATION",
                        help="a [coalescing] window other than the default, e.g. "
                             "writeback=60m (repeatable; the row says which were used)")
    args = parser.parse_args(argv)
    windows = dict(w.split("=", 1) for w in args.coalescing)
    intervals = dict(w.split("=", 1) for w in args.daemon)
    crms = ("hubspot", "zendesk") if args.crm == "both" else (args.crm,)
    notes = {"on": (True,), "off": (False,), "both": (True, False)}[args.notifications]
    for crm in crms:
        for per_day in (int(v) for v in args.per_day.split(",")):
            for notifications in notes:
                days = args.hours / 24 if args.hours else args.days
                profile = f"{args.profile}.{crm}.{per_day}" if args.profile else None
                warmup = args.warmup if args.warmup is not None else 0 if args.hours else 1
                row = run_isolated(crm, per_day, days, notifications,
                                   idle=not args.hours, profile=profile,
                                   coalescing=windows or None, warmup=warmup,
                                   intervals=intervals or None)
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    print_row(row)
                    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
