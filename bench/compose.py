"""Micro-benchmark: CPU per survey mail, email package vs prepared template (one process).

Each mail is what dispatch does with it: compose (the unsubscribe link signed as compose_mail
signs it) and the DATA bytes (wire.data_bytes); then, timed apart, the header reads the SMTP
session and the mail channel make (To, Cc, Bcc for the envelope; Message-ID for the log and
the record). The inputs are bench/loop.py's (a CSAT program, first names "Customer<i>",
ticket subjects "Ticket <i>", five languages), or with --mix NPS and CSAT with first names
drawn from a small set (some non-ASCII, some absent) and one mail in ten a reminder. Rounds
alternate email package, prepared, email package, ...; each prints CPU time
(time.process_time) divided by the mails composed in it; the medians and their ratios come
last, with the load averages.

    python bench/compose.py [--mails 2000] [--rounds 7] [--mix]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import Any

from closedloop.daemon.delivery.compose import Sender, compose_survey
from closedloop.daemon.delivery.wire import data_bytes
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.web.links import unsubscribe_url
from closedloop.daemon.web.tokens import TokenSigner

LANGUAGES = ("en", "fr", "nb", "de", "es")
NAMES = ("Ana", "Zoé", "Jörg", None, "Mette", "José", "Li Wei", None, "Chloé", "Tom")
PUBLIC = "https://feedback.acme.example"
SIGNER = TokenSigner("b" * 40, timedelta(days=30))
SENDER = Sender("feedback@acme.example", "Acme")


def inputs(mails: int, mix: bool) -> list[dict[str, Any]]:
    csat = Program("support-csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
    nps = Program("nps", SurveyType.NPS, "hubspot", timedelta(hours=1), "Acme")
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    rows = []
    for i in range(mails):
        rows.append({
            "program": (nps if i % 2 else csat) if mix else csat, "send_id": i + 1,
            "to": f"customer{i}@example.com",
            "first_name": NAMES[i % len(NAMES)] if mix else f"Customer{i}",
            "language": LANGUAGES[i % 5], "ticket_subject": f"Ticket {i}", "now": now,
            "issued_at": now, "reminder": mix and i % 10 == 9})
    return rows


def one_round(rows: list[dict[str, Any]], prepared: bool) -> tuple[float, float]:
    """CPU ms per mail for composing and writing `rows` once, and for the reads after."""
    composing = reading = 0.0
    clock = time.process_time
    for row in rows:
        started = clock()
        link = unsubscribe_url(PUBLIC, SIGNER, row["send_id"], row["issued_at"])
        msg = compose_survey(**row, public_url=PUBLIC, signer=SIGNER, sender=SENDER,
                             unsubscribe_url=link, prepared_template=prepared)
        data_bytes(msg)
        between = clock()
        getaddresses([*msg.get_all("To", []), *msg.get_all("Cc", []),  # smtp._envelope
                      *msg.get_all("Bcc", [])])
        str(msg.get("Message-ID"))  # the session's log line
        str(msg["Message-ID"])  # the channel's reference
        ended = clock()
        composing += between - started
        reading += ended - between
    return composing * 1000 / len(rows), reading * 1000 / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mix", action="store_true")
    args = parser.parse_args()
    rows = inputs(args.mails, args.mix)
    one_round(rows[:200], False)  # templates, catalogs and memos built outside the timing
    one_round(rows[:200], True)
    old: list[tuple[float, float]] = []
    new: list[tuple[float, float]] = []
    for number in range(args.rounds):
        old.append(one_round(rows, False))
        new.append(one_round(rows, True))
        print(f"round {number + 1} ({args.mails} mails each), CPU ms per mail, compose + bytes "
              f"/ header reads: email package {old[-1][0]:.3f} / {old[-1][1]:.3f}, "
              f"prepared {new[-1][0]:.3f} / {new[-1][1]:.3f}")
    for label, index in (("compose + bytes", 0), ("header reads", 1),
                         ("all", None)):
        before = statistics.median(sum(r) if index is None else r[index] for r in old)
        after = statistics.median(sum(r) if index is None else r[index] for r in new)
        print(f"median CPU ms per mail, {label}: email package {before:.3f}, prepared "
              f"{after:.3f}, prepared / email package = {after / before:.3f}")
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
