"""Micro-benchmark: CPU per survey mail, email package vs prepared template (one process).

Each mail is what dispatch does with it: compose (the unsubscribe link signed as compose_mail
signs it), the DATA bytes (wire.data_bytes), and the header reads the SMTP session and the
mail channel make (From, To, Cc, Bcc for the envelope; Message-ID for the log and the
record). The inputs are bench/loop.py's (a CSAT program, first names "Customer<i>", ticket
subjects "Ticket <i>", five languages), or with --mix, NPS and CSAT with first names drawn
from a small set (some non-ASCII, some absent) and one mail in ten a reminder. Rounds
alternate old, new, old, new, ...; each prints CPU time (time.process_time) divided by the
mails composed in it; the medians and their ratio come last, with the load averages.

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


def one_round(rows: list[dict[str, Any]], prepared: bool) -> float:
    """CPU ms per mail for composing, writing and reading `rows` once."""
    started = time.process_time()
    for row in rows:
        link = unsubscribe_url(PUBLIC, SIGNER, row["send_id"], row["issued_at"])
        msg = compose_survey(**row, public_url=PUBLIC, signer=SIGNER, sender=SENDER,
                             unsubscribe_url=link, prepared_template=prepared)
        data_bytes(msg)
        getaddresses([*msg.get_all("To", []), *msg.get_all("Cc", []),  # smtp._envelope
                      *msg.get_all("Bcc", [])])
        str(msg.get("Message-ID"))  # the session's log line
        str(msg["Message-ID"])  # the channel's reference
    return (time.process_time() - started) * 1000 / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mix", action="store_true")
    args = parser.parse_args()
    rows = inputs(args.mails, args.mix)
    one_round(rows[:200], False)  # templates, catalogs and memos built outside the timing
    one_round(rows[:200], True)
    old: list[float] = []
    new: list[float] = []
    for number in range(args.rounds):
        old.append(one_round(rows, False))
        new.append(one_round(rows, True))
        print(f"round {number + 1}: email package {old[-1]:.3f} ms/mail, "
              f"prepared {new[-1]:.3f} ms/mail ({args.mails} mails each)")
    before, after = statistics.median(old), statistics.median(new)
    print(f"median CPU per mail: email package {before:.3f} ms, prepared {after:.3f} ms, "
          f"prepared / email package = {after / before:.3f}; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
