"""Benchmark: N daemons on one PostgreSQL against a faulty sandbox CRM; prints the figures.

The larger run of tests/e2e/test_replicas_faults.py (same harness): CRM 20 % 5xx, 10 % 429,
5 % slow, 5 % of note creates applied then answered with a 504, optional SMTP cuts. Prints
duplicate mails and notes, contact writes per answer, the share of answers on the CRM,
surveys lost to a cut connection, and the poll's searches and 429s, each with what it
divides by. Run it with one replica, then three, to compare.

    python bench/faults.py --pg postgresql://postgres@127.0.0.1:55432/bench \
        [--tickets 150] [--replicas 3] [--crm hubspot|zendesk] [--smtp-cuts 0.1] [--seed 13]
        [--5xx 0.2] [--429 0.1] [--slow 0.05] [--lost 0.05] [--json]

The database's tables are dropped and created again in a schema of its own per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from pg_scratch import scratch_schema
from replicas_harness import FaultRun, run_faults

from closedloop.daemon.logging import configure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="PostgreSQL URL (a schema is made in it)")
    parser.add_argument("--tickets", type=int, default=150)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--crm", choices=["hubspot", "zendesk"], default="hubspot")
    parser.add_argument("--smtp-cuts", type=float, default=0.0)
    parser.add_argument("--5xx", dest="error_5xx", type=float, default=0.20)
    parser.add_argument("--429", dest="rate_429", type=float, default=0.10)
    parser.add_argument("--slow", type=float, default=0.05)
    parser.add_argument("--lost", type=float, default=0.05,
                        help="share of note creates and contact updates applied, then lost")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure("json", level=logging.ERROR)
    with scratch_schema(args.pg) as url:
        figures = run_faults(url, FaultRun(
            tickets=args.tickets, replicas=args.replicas, crm=args.crm, smtp_cuts=args.smtp_cuts,
            error_5xx=args.error_5xx, rate_429=args.rate_429, slow=args.slow,
            lost_creates=args.lost, seed=args.seed, timeout=args.timeout))
    if args.json:
        print(json.dumps({**asdict(figures), "writes_per_answer": figures.writes_per_answer}))
    else:
        print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
