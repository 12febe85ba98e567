"""Benchmark: dispatchers racing over people with two surveys due at once; prints the doubles.

N people each have an NPS and a CSAT survey due at the same moment (their keys side by side
in due order, so one person's two rows go to two dispatchers). K dispatcher threads, each
with a store of its own, run the real `dispatch_due` at once on one PostgreSQL, claiming
`--batch` rows at a time, against a local SMTP sink, for `--rounds` runs each. The global
cooldown (7 days) allows one survey per person: the figure is the people mailed twice, of
N. Surveys held back by a mail on its way to the same person are deferred
(`survey_in_flight`) and not retried within the run; the run prints how many.

    python bench/replica_race.py --pg postgresql://postgres@127.0.0.1:55432/bench \\
        [--people 200] [--dispatchers 3] [--batch 1] [--rounds 6] [--json]

The tables are made in a schema of their own per run, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from pg_scratch import scratch_schema

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import DispatchResult, dispatch_due
from closedloop.daemon.logging import configure
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType

PROGRAMS = {name: Program(name, kind, "hubspot", timedelta(hours=1), "Acme")
            for name, kind in (("csat", SurveyType.CSAT), ("nps", SurveyType.NPS))}
ANY_TIME = Policy(quiet_start=None, quiet_end=None)  # global cooldown: 7 days


def compose(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = row.idem_key
    msg["Message-ID"] = f"<race-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


def race(url: str, people: int, dispatchers: int, batch: int, rounds: int) -> dict[str, int]:
    store = Store(url)
    store.migrate()
    now = datetime.now(UTC)
    closed = now - timedelta(hours=2)
    store.add_sends([
        NewSend(idem_key=f"{i:05d}-{name}", program=name, survey_type=p.type.value,
                source="hubspot", contact_id=f"c{i}", due_at=now - timedelta(minutes=1),
                created_at=closed, closed_at=closed, ticket_id=f"{i}-{name}",
                email=f"person{i}@example.com")
        for i in range(people) for name, p in PROGRAMS.items()])
    results: list[DispatchResult] = []
    sink = LocalMailSink()
    sink.start()

    def dispatcher() -> None:
        mine = Store(url)
        for _ in range(rounds):
            results.append(dispatch_due(mine, PROGRAMS, SmtpSender("127.0.0.1", sink.port),
                                        compose, datetime.now(UTC), batch=batch,
                                        policy=ANY_TIME))
            time.sleep(0.5)
        mine.dispose()

    try:
        threads = [threading.Thread(target=dispatcher) for _ in range(dispatchers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        mailed = Counter(str(m["To"]) for m in sink.messages)
    finally:
        sink.stop()
        store.dispose()
    return {"people": people, "dispatchers": dispatchers, "batch": batch,
            "mails": sum(mailed.values()), "people_mailed": len(mailed),
            "people_mailed_twice": sum(1 for n in mailed.values() if n > 1),
            "deferred_survey_in_flight": sum(r.deferred["survey_in_flight"] for r in results),
            "skipped": sum(sum(r.skipped.values()) for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="PostgreSQL URL (a schema is made in it)")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--dispatchers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure("json", level=logging.ERROR)
    with scratch_schema(args.pg) as url:
        figures = race(url, args.people, args.dispatchers, args.batch, args.rounds)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"people mailed twice: {figures['people_mailed_twice']} of {figures['people']} "
          f"({figures['mails']} mails to {figures['people_mailed']} people; "
          f"{figures['dispatchers']} dispatchers, batches of {figures['batch']})")
    print(f"deferred survey_in_flight: {figures['deferred_survey_in_flight']}; "
          f"skipped: {figures['skipped']}")


if __name__ == "__main__":
    main()
