"""Benchmark: write-back of N answered contacts to a rate-limited sandbox HubSpot.

The write-back job (daemon/jobs/writeback.py) runs back to back on a store holding N
pending answers, through the real adapter, the real hubspot-api-client and HTTP, against
the sandbox in a child process set to `--rate-limit` requests per 10 s (Professional: 190).
One contacts batch update carries 100 contacts, so the ceiling is 100 x limit / 10 s
contacts a second (1,900 at 190).

    python bench/writeback.py [--contacts 190000] [--rate-limit 190] [--outside 0]
                              [--no-pacing] [--pg postgresql://...] [--json]

Figures, each with what it divides by:
- contacts/s: contacts written / wall time of the write-back (first call to last answer).
- share_of_ceiling: contacts written / the most any client could write in that time from an
  empty window: 100 x limit x (1 + T / 10 s) (one whole window at the start, then the
  limit every 10 s). It never flatters a short run; at 1.0 nothing is left on the table.
- 429s: the sandbox's count, split into avoidable (the client's own requests had filled
  the window alone, or an earlier answer had told it the window was spent and nothing had
  left since) and unavoidable (another integration spent what the client was last told
  was left; `--outside N` plays one spending N requests every 10 s).
`--no-pacing` runs the adapter without its pacer: the behaviour before pacing (send until
a 429, then wait the 10 s HubSpot's policy names).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import pstats
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.writeback import write_back
from closedloop.daemon.logging import configure
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.store import Store
from closedloop.daemon.store.tables import Response, Send, WriteBack
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy

TOKEN = "bench-token"
PER_CALL = 100  # contacts per batch update
WINDOW = 10.0  # seconds of HubSpot's rolling window
PROGRAM = "support-csat"


def serve(contacts: int, rate_limit: int, pipe: Connection) -> None:
    """Child process: a sandbox HubSpot with `contacts` contacts (ids 1..N)."""
    from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

    configure("json", level=40)  # a spawned child: its own logging, quiet as the parent's
    state = HubSpotState()
    for i in range(contacts):
        state.create_contact(f"c{i}@example.com", f"C{i}", "Bench", "en")
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0) as sandbox:
        pipe.send(sandbox.url)
        pipe.recv()  # setup done: set the limit, start counting
        sandbox._ten_second.limit = rate_limit
        sandbox.reset_limits()
        sandbox.reset_calls()
        pipe.send("limited")
        while True:
            message = pipe.recv()
            if message == "done":
                break
            sandbox.spend_outside(ten_second=int(message))
        pipe.send((sandbox.calls_snapshot()["calls"], sandbox.limits_snapshot()))


def seed_store(store: Store, contacts: int, now: datetime) -> None:
    """N sent surveys, one answer each, one pending 'answer' write-back row each."""
    chunk = 5000
    with store.engine.begin() as conn:
        for start in range(1, contacts + 1, chunk):
            ids = range(start, min(start + chunk, contacts + 1))
            conn.execute(Send.__table__.insert(), [
                {"id": i, "idem_key": f"bench-{i}", "program": PROGRAM, "survey_type": "csat",
                 "source": "hubspot", "contact_id": str(i), "email": f"c{i}@example.com",
                 "created_at": now, "due_at": now, "status": "sent", "sent_at": now}
                for i in ids])
            conn.execute(Response.__table__.insert(), [
                {"send_id": i, "score": 1 + i % 5, "category": "satisfied" if i % 5 >= 3
                 else "unsatisfied", "answered_at": now, "updated_at": now} for i in ids])
            conn.execute(WriteBack.__table__.insert(), [
                {"source": "hubspot", "contact_id": str(i), "send_id": i, "kind": "answer",
                 "created_at": now, "status": "pending", "attempts": 0,
                 "data": {"survey_type": "csat", "program": PROGRAM, "score": 1 + i % 5,
                          "comment": None, "category": "satisfied" if i % 5 >= 3
                          else "unsatisfied", "answered_at": now.isoformat(),
                          "updated_at": now.isoformat(), "sent_at": now.isoformat()}}
                for i in ids])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=190_000,
                        help="answered contacts to write (default: ten windows' worth)")
    parser.add_argument("--rate-limit", type=int, default=190, help="sandbox limit per 10 s")
    parser.add_argument("--outside", type=int, default=0,
                        help="requests another integration spends every 10 s")
    parser.add_argument("--no-pacing", action="store_true", help="the adapter without pacer")
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the job")
    args = parser.parse_args()
    configure("json", level=40)
    figures = run(args)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"contacts written      {figures['contacts']} in {figures['seconds']:.1f} s "
          f"({figures['calls']} contacts batch updates, {figures['all_calls']} calls)")
    print(f"contacts/s            {figures['contacts_per_second']:.0f} (steady ceiling "
          f"{figures['ceiling_per_second']:.0f} at {args.rate_limit} requests per 10 s; the "
          "first window's burst can lift a run above it, share_of_ceiling counts it)")
    print(f"share_of_ceiling      {figures['share_of_ceiling']:.3f} (contacts / (100 x limit "
          f"x (1 + T / 10 s)))")
    print(f"429s                  {figures['rate_limited']} (avoidable "
          f"{figures['avoidable_429s']}, unavoidable {figures['unavoidable_429s']})")
    print(f"pacing                {figures['pacing']}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC)
    parent, child = mp.Pipe()
    crm = mp.get_context("spawn").Process(target=serve,
                                          args=(args.contacts, args.rate_limit, child),
                                          daemon=True)
    crm.start()
    url = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        state_url = args.pg or f"sqlite:///{Path(tmp) / 'bench.db'}"
        config = parse_config({
            "daemon": {"state_url": state_url},
            "sources": {"hubspot": {"crm": "hubspot", "base_url": url,
                                    "rate_limit": args.rate_limit}},
            "mail": {"host": "127.0.0.1", "port": 25, "from_address": "f@acme.example"},
            "programs": [{"name": PROGRAM, "type": "csat", "source": "hubspot",
                          "company": "Acme"}],
        }, "bench")
        rt = build_runtime(config, Secrets(secret_key="b" * 40,
                                           source_tokens={"hubspot": TOKEN}))
        rt.store.migrate()
        mapping = rt.mappings["hubspot"]
        setup = HubSpotAdapter("hubspot", TOKEN, url)
        setup.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        seed_store(rt.store, args.contacts, now)
        adapter: Any = rt.adapters["hubspot"]
        if args.no_pacing:
            adapter = HubSpotAdapter("hubspot", TOKEN, url, retry=RetryPolicy(
                max_attempts=config.sources["hubspot"].retry_attempts,
                max_delay=config.sources["hubspot"].retry_budget.total_seconds()))
        parent.send("setup done")
        parent.recv()
        stop = threading.Event()
        outside = threading.Thread(target=_outside, args=(parent, args.outside, stop),
                                   daemon=True)
        written = 0
        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        started = time.perf_counter()
        if args.outside:
            outside.start()
        while True:
            result = write_back(rt.store, adapter, mapping,
                                now + timedelta(seconds=time.perf_counter() - started))
            written += result.contacts
            if not result.contacts and not result.deferred:
                break
            if result.deferred:
                time.sleep(1.0)  # rows wait for their retry time; the daemon's next run
        seconds = time.perf_counter() - started
        if profile:
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        stop.set()
        if args.outside:
            outside.join()
        parent.send("done")
        calls, limits = parent.recv()
        stats = adapter.pacing_stats()
        rt.close()
    crm.join(timeout=10)
    ceiling = PER_CALL * args.rate_limit * (1 + seconds / WINDOW)
    window = limits["ten_second"]
    return {
        "contacts": written, "seconds": round(seconds, 2),
        "calls": calls.get("POST /crm/v3/objects/contacts/batch/update", 0),
        "all_calls": sum(calls.values()),
        "contacts_per_second": round(written / seconds, 1),
        "ceiling_per_second": PER_CALL * args.rate_limit / WINDOW,
        "share_of_ceiling": round(written / ceiling, 4),
        "rate_limited": window["avoidable"] + window["unavoidable"],
        "avoidable_429s": window["avoidable"], "unavoidable_429s": window["unavoidable"],
        "rate_limit_per_10s": args.rate_limit, "outside_per_10s": args.outside,
        "pacing": None if stats is None else {
            "waits": stats.waits, "waited_seconds": round(stats.waited_seconds, 1),
            "throttled": stats.throttled, "rate_limited": stats.rate_limited},
    }


def _outside(pipe: Connection, per_window: int, stop: threading.Event) -> None:
    """Another integration: `per_window` requests at the start of every 10 s."""
    while not stop.is_set():
        pipe.send(per_window)
        stop.wait(WINDOW)


if __name__ == "__main__":
    main()
