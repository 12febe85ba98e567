"""Micro-benchmark: the write-back job's CPU per written row as the write-back table grows.

Fills a real store (a SQLite file, or PostgreSQL with --url) with what bench/loop.py's
backlog run holds when its write-back starts, for N surveyed tickets: N sends 'sent' (one
customer each), an answer to 30 % of them, and the write-back rows those made
(store/settle.py, store/answers.py): one 'sent' row per send, one 'answer' and one 'hook'
row per answer, the hooks settling 5 minutes after the answer, all pending. Then it runs
what bench/loop.py runs, the same way: the write-back job (the runtime's reads of the
coalescing windows, then jobs/writeback.write_back, 2,000 rows a round) back to back until
idle, and again 10 minutes later for the hooks. The CRM is an in-process stand-in that
accepts every write (this measures the store and the job, not an HTTP client).

Every figure says what it divides by: `*_ms_per_row` is CPU ÷ write-back rows settled,
`*_ms_per_ticket` CPU ÷ surveyed tickets (N, as bench/loop.py divides). CPU is this
process's (time.process_time) and, on PostgreSQL, its server backends' too (read from
/proc while the run lasts: the server runs on this box). One JSON object per line.

    python bench/writeback_claims.py --tickets 100000 [--tickets 1000000]
    python bench/writeback_claims.py --url postgresql://postgres@127.0.0.1:55432/cl_x
    python bench/writeback_claims.py --tickets 1000000 --profile -   # cProfile, top 35
    python bench/writeback_claims.py --claim-rounds 20 [--front 0.5]  # the claims alone

`--claim-rounds N` times the claim and its settle alone, N rounds of 2,000 rows, with the
write-back half way through the contacts (`--front`): their rows done, all hooks waiting.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, text

from closedloop.daemon.jobs.windows import CoalescingSettings, writeback_ripe
from closedloop.daemon.jobs.writeback import WriteBackResult, write_back
from closedloop.daemon.logging import configure
from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Base
from closedloop.integration.base import Attribution, ContactUpdate, TicketUpdate, WriteResult
from closedloop.mappings import load_mapping

SOURCE = "hubspot"
PROGRAM = "support-csat"
FIRST_CONTACT = 1001  # the sandbox's contact and ticket ids: numeric strings
CHUNK = 20_000
HOOK_SETTLE = timedelta(minutes=5)  # store/answers.py


class AcceptingCRM:
    """The CRM side of the job, in process: every write lands, every ticket has an owner."""

    name = SOURCE
    write_batch_size = 100  # HubSpot's batch size

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        return WriteResult(written=[u.contact_id for u in updates])

    def update_tickets(self, updates: Sequence[TicketUpdate]) -> WriteResult:
        return WriteResult(written=[u.ticket_id for u in updates])

    def ticket_attribution(self, ticket_ids: Sequence[str]) -> dict[str, Attribution]:
        return {t: Attribution(owner_id="7", team_id=None) for t in ticket_ids}


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def chunked(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    part: list[dict[str, Any]] = []
    for row in rows:
        part.append(row)
        if len(part) == CHUNK:
            yield part
            part = []
    if part:
        yield part


def fill(store: Store, tickets: int, answer_rate: float, start: datetime) -> dict[str, int]:
    """The backlog run's tables when its write-back starts (send ids 1..N in send order)."""
    rng = random.Random(1)
    answered = sorted(rng.sample(range(1, tickets + 1), int(tickets * answer_rate)))
    sent_at = [start + timedelta(milliseconds=3 * i) for i in range(tickets + 1)]
    answer_at = start + timedelta(hours=1)

    def sends() -> Iterator[dict[str, Any]]:
        for i in range(1, tickets + 1):
            yield {"id": i, "idem_key": f"{SOURCE}:t{i}:{PROGRAM}", "program": PROGRAM,
                   "survey_type": "csat", "source": SOURCE, "ticket_id": str(FIRST_CONTACT + i),
                   "contact_id": str(FIRST_CONTACT + i), "email": f"customer{i}@example.com",
                   "email_norm": f"customer{i}@example.com", "first_name": f"Customer{i}",
                   "language": "en", "subject": f"Ticket {i}", "closed_at": start,
                   "created_at": start, "due_at": start, "status": "sent",
                   "sent_at": sent_at[i], "attempts": 0, "kind": "survey", "reminder_no": 0,
                   "channel": "email", "message_id": f"<{i}@acme.example>"}

    def answer_data(i: int, score: int) -> dict[str, Any]:
        return {"survey_type": "csat", "program": PROGRAM, "score": score, "comment": None,
                "category": "satisfied" if score >= 4 else "unsatisfied",
                "answered_at": answer_at.isoformat(), "updated_at": answer_at.isoformat(),
                "sent_at": sent_at[i].isoformat(), "language": "en"}

    scores = {i: rng.randint(1, 5) for i in answered}

    def responses() -> Iterator[dict[str, Any]]:
        for i in answered:
            yield {"send_id": i, "score": scores[i], "comment": None,
                   "category": answer_data(i, scores[i])["category"],
                   "answered_at": answer_at, "updated_at": answer_at}

    def writebacks() -> Iterator[dict[str, Any]]:
        base = {"source": SOURCE, "status": "pending", "attempts": 0, "next_attempt_at": None}
        for i in range(1, tickets + 1):  # settle_sent: one 'sent' row per mail
            yield {**base, "contact_id": str(FIRST_CONTACT + i), "send_id": i, "kind": "sent",
                   "created_at": sent_at[i],
                   "data": {"survey_type": "csat", "program": PROGRAM,
                            "sent_at": sent_at[i].isoformat()}}
        for i in answered:  # _enqueue_answer: the answer, then its ticket's hook
            data = answer_data(i, scores[i])
            row = {**base, "contact_id": str(FIRST_CONTACT + i), "send_id": i,
                   "created_at": answer_at}
            yield {**row, "kind": "answer", "data": data}
            hook = {**data, "ticket_id": str(FIRST_CONTACT + i)}
            hook.pop("sent_at")
            yield {**row, "kind": "hook", "data": hook, "next_attempt_at": answer_at + HOOK_SETTLE}

    counts = {}
    with store.engine.begin() as conn:
        for name, rows in (("sends", sends()), ("responses", responses()),
                           ("writebacks", writebacks())):
            counts[name] = 0
            for part in chunked(rows):
                conn.execute(table(name).insert(), part)
                counts[name] += len(part)
        if conn.dialect.name == "postgresql":  # the ids given: move the sequence past them
            conn.execute(text("SELECT setval('sends_id_seq', (SELECT max(id) FROM sends))"))
    if store.engine.dialect.name == "postgresql":  # autovacuum's statistics, as a running
        with store.engine.connect() as conn:  # server has them (the daemon never ANALYZEs
            conn.execute(text("ANALYZE"))  # SQLite: its planner goes without statistics)
            conn.commit()
    return counts


class BackendCPU:
    """CPU seconds of the PostgreSQL server backends this engine opened (from /proc)."""

    def __init__(self, store: Store) -> None:
        self.pids: set[int] = set()
        self.store = store
        if store.engine.dialect.name == "postgresql":
            store.engine.dispose()
            event.listen(store.engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pids.add(int(cursor.fetchone()[0]))

    def seconds(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a backend that ended: its CPU is lost (the pool keeps them open)
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


@dataclass
class Phase:
    rows: int = 0
    calls: int = 0
    cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    wall_s: float = 0.0


def until_idle(store: Store, now: Callable[[], datetime], done: Callable[[WriteBackResult], int],
               backend: BackendCPU) -> Phase:
    """bench/loop.py's `_until_idle(rt.write_back, ...)`, with what runtime.write_back reads
    before the job (the wake gate's upcoming rows, the windows' backlogs); the defaults'
    windows, as bench/loop.py's config has them."""
    mapping = load_mapping(SOURCE)
    crm = AcceptingCRM()
    settings = CoalescingSettings()
    phase = Phase()
    cpu0, server0, wall0 = time.process_time(), backend.seconds(), time.perf_counter()
    while True:
        store.writebacks_upcoming(SOURCE)
        skip = writeback_ripe(store, SOURCE, now(), settings)
        if skip is None:
            break
        result = write_back(store, crm, mapping, now(), skip_kinds=skip)  # type: ignore[arg-type]
        phase.calls += 1
        phase.rows += result.rows
        if not done(result):
            break
    phase.cpu_s = time.process_time() - cpu0
    phase.server_cpu_s = backend.seconds() - server0
    phase.wall_s = time.perf_counter() - wall0
    return phase


def prepared_sqlite(tickets: int, answer_rate: float, start: datetime, work: Path) -> Path:
    """A filled SQLite file for this code's schema, copied from a cache next to `work`."""
    probe = Store(f"sqlite:///{work / 'probe.db'}")
    probe.migrate()
    with probe.engine.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        names = sorted(r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'writebacks'")))
    probe.dispose()
    indexes = hashlib.sha256(" ".join(names).encode()).hexdigest()[:8]
    shape = f"{tickets}-{answer_rate}-{head}-{indexes}"
    cache = Path(tempfile.gettempdir()) / "closedloop-bench-writeback" / f"{shape}.db"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        building = cache.with_suffix(".building")
        building.unlink(missing_ok=True)
        store = Store(f"sqlite:///{building}")
        store.migrate()
        fill(store, tickets, answer_rate, start)
        store.dispose()
        with closing(sqlite3.connect(building)) as raw:  # the WAL into the file
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        building.rename(cache)
    target = work / "bench.db"
    shutil.copyfile(cache, target)
    return target


def run(args: argparse.Namespace, tickets: int, work: Path) -> dict[str, Any]:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    filled = time.perf_counter()
    if args.url:
        store = Store(args.url)
        with store.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        store.migrate()
        fill(store, tickets, args.answer_rate, start)
    else:
        store = Store(f"sqlite:///{prepared_sqlite(tickets, args.answer_rate, start, work)}")
    fill_s = time.perf_counter() - filled
    backend = BackendCPU(store)
    clock = [start + timedelta(hours=1)]  # the answers' time: hooks not settled yet
    if args.claim_rounds:
        return claims_at_front(args, store, tickets, clock[0], backend, fill_s)

    def now() -> datetime:  # bench/loop.py's runtime clock: still within a phase
        return clock[0]

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    contacts = until_idle(store, now, lambda r: r.contacts or r.rows, backend)
    clock[0] += timedelta(minutes=10)  # bench/loop.py: the ticket hooks settle
    hooks = until_idle(store, now, lambda r: r.tickets, backend)
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(35)
        if args.profile != "-":
            stats.dump_stats(args.profile)
    left = store.counts()
    store.dispose()
    rows = contacts.rows + hooks.rows
    cpu = contacts.cpu_s + hooks.cpu_s
    server = contacts.server_cpu_s + hooks.server_cpu_s
    return {
        "db": store.engine.dialect.name, "tickets": tickets, "rows_settled": rows,
        "writebacks_pending_after": left.get("writebacks.pending", 0),
        "cpu_s": round(cpu, 3), "server_cpu_s": round(server, 3),
        "cpu_ms_per_row": round(1000 * cpu / max(rows, 1), 4),
        "cpu_ms_per_ticket": round(1000 * cpu / tickets, 4),
        "total_cpu_ms_per_row": round(1000 * (cpu + server) / max(rows, 1), 4),
        "total_cpu_ms_per_ticket": round(1000 * (cpu + server) / tickets, 4),
        # bench/loop.py's split: "writeback" (hooks left out) and "hooks", each job CPU
        # (with the server's on PostgreSQL) ÷ surveyed tickets
        "writeback_ms_per_ticket": round(
            1000 * (contacts.cpu_s + contacts.server_cpu_s) / tickets, 4),
        "hooks_ms_per_ticket": round(1000 * (hooks.cpu_s + hooks.server_cpu_s) / tickets, 4),
        "contacts_phase": {k: round(v, 3) for k, v in vars(contacts).items()},
        "hooks_phase": {k: round(v, 3) for k, v in vars(hooks).items()},
        "wall_s": round(contacts.wall_s + hooks.wall_s, 1), "fill_s": round(fill_s, 1),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def claims_at_front(args: argparse.Namespace, store: Store, tickets: int, now: datetime,
                    backend: BackendCPU, fill_s: float) -> dict[str, Any]:
    """The store calls of `--claim-rounds` rounds alone, with the write-back `--front` of
    the way through the contacts (their rows done before it, their hooks waiting): each
    round claims 2,000 rows leaving hooks out and marks them done, as the job does."""
    with store.engine.begin() as conn:
        total = conn.execute(text("SELECT count(*) FROM writebacks WHERE kind <> 'hook'")
                             ).scalar_one()
        front = conn.execute(text(
            "SELECT contact_id FROM writebacks WHERE kind <> 'hook' ORDER BY contact_id "
            "LIMIT 1 OFFSET :n"), {"n": int(total * args.front)}).scalar_one()
        conn.execute(text("UPDATE writebacks SET status = 'done', written_at = :now "
                          "WHERE kind <> 'hook' AND contact_id < :front"),
                     {"now": now, "front": front})
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE writebacks"))
            conn.commit()
    lease = timedelta(minutes=5)
    claim_cpu = claim_server = settle_cpu = settle_server = 0.0
    rows = 0
    for _ in range(args.claim_rounds):
        cpu0, server0 = time.process_time(), backend.seconds()
        claim = store.claim_writebacks(SOURCE, now, 2000, lease, ("hook",))
        cpu1, server1 = time.process_time(), backend.seconds()
        store.mark_writebacks_done([r.id for r in claim.rows], now, token=claim.token)
        claim_cpu += cpu1 - cpu0
        claim_server += server1 - server0
        settle_cpu += time.process_time() - cpu1
        settle_server += backend.seconds() - server1
        rows += len(claim.rows)
    store.dispose()
    return {
        "db": store.engine.dialect.name, "tickets": tickets, "front": args.front,
        "rounds": args.claim_rounds, "rows_claimed": rows,
        # CPU of the claim calls (this process + the server's) ÷ rows they claimed
        "claim_ms_per_row": round(1000 * (claim_cpu + claim_server) / max(rows, 1), 4),
        "claim_server_ms_per_row": round(1000 * claim_server / max(rows, 1), 4),
        "settle_ms_per_row": round(1000 * (settle_cpu + settle_server) / max(rows, 1), 4),
        "fill_s": round(fill_s, 1), "load": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, action="append",
                        help="surveyed tickets (repeatable; default 100000 and 1000000)")
    parser.add_argument("--answer-rate", type=float, default=0.3)
    parser.add_argument("--url", help="a PostgreSQL URL (its public schema is dropped!)")
    parser.add_argument("--claim-rounds", type=int, default=0,
                        help="time this many claim + settle rounds alone, at --front")
    parser.add_argument("--front", type=float, default=0.5,
                        help="with --claim-rounds: the share of contacts written already")
    parser.add_argument("--profile", help="cProfile the runs; a file to dump to, or -")
    args = parser.parse_args()
    configure("console", level=40)  # as bench/loop.py: errors only, the figures on stdout
    with tempfile.TemporaryDirectory() as tmp:
        for tickets in args.tickets or [100_000, 1_000_000]:
            print(json.dumps(run(args, tickets, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
