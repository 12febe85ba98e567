"""Response rates per program (`closedloop status`) and the demo's closing summary.

A rate is answered surveys / surveys sent, over the surveys sent in the window (an answer
that came later still counts for its survey). Reminders are not surveys: an answer to a
reminder is stored on its survey, and reminder rows are never counted. Read straight from
the tables (exact, and independent of the report rollups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.table import Table
from sqlalchemy import func, select

from closedloop.daemon.insight.dimensions import RESPONSES, SENDS
from closedloop.daemon.insight.stats import category_rank
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import to_db

SENT = ("sent", "outcome_unknown")
RECENT = timedelta(days=30)


@dataclass(frozen=True)
class ResponseRate:
    sent: int = 0
    answered: int = 0

    @property
    def rate(self) -> float | None:
        return None if self.sent <= 0 else self.answered / self.sent

    def as_dict(self) -> dict[str, float | int | None]:
        return {"sent": self.sent, "answered": self.answered, "rate": self.rate}


def response_rates(store: Store, since: datetime | None = None) -> dict[str, ResponseRate]:
    """Program -> surveys sent (at or after `since`, if given) and how many are answered."""
    stmt = (select(SENDS.c.program, func.count(), func.count(RESPONSES.c.id))
            .select_from(SENDS.outerjoin(RESPONSES, RESPONSES.c.send_id == SENDS.c.id))
            .where(SENDS.c.kind == "survey", SENDS.c.status.in_(SENT))
            .group_by(SENDS.c.program))
    if since is not None:
        stmt = stmt.where(SENDS.c.sent_at >= to_db(since))
    with reading(store.engine) as conn:
        return {program: ResponseRate(int(sent), int(answered))
                for program, sent, answered in conn.execute(stmt)}


def program_rates(store: Store, programs: Sequence[str], now: datetime
                  ) -> list[tuple[str, ResponseRate, ResponseRate]]:
    """(program, last 30 days, all time) for each configured program, then any other
    program the state still holds surveys of."""
    recent, ever = response_rates(store, now - RECENT), response_rates(store)
    names = [*programs, *sorted(set(ever) - set(programs))]
    return [(name, recent.get(name, ResponseRate()), ever.get(name, ResponseRate()))
            for name in names]


def summary_lines(store: Store) -> list[str]:
    """One line per program: answers, the score and the response rate (the demo's end)."""
    counts: dict[tuple[str, str], list[int]] = {}
    with reading(store.engine) as conn:
        rows = conn.execute(
            select(SENDS.c.program, SENDS.c.survey_type, RESPONSES.c.score,
                   RESPONSES.c.category)
            .select_from(SENDS.join(RESPONSES, RESPONSES.c.send_id == SENDS.c.id)))
        for program, survey_type, score, category in rows:
            c = counts.setdefault((program, survey_type), [0, 0, 0, 0])
            rank = category_rank(survey_type, category)
            c[0] += 1
            c[1] += rank == 0
            c[2] += rank == 2
            c[3] += score
    rates = response_rates(store)
    lines = []
    for (program, survey_type), (n, low, high, total) in sorted(counts.items()):
        if survey_type == "nps":
            score = f"NPS {100 * (high - low) / n:+.0f}"
        elif survey_type == "csat":
            score = f"CSAT {100 * high / n:.0f} % satisfied"
        else:
            score = f"CES {total / n:.1f} (mean effort)"
        rate = rates.get(program, ResponseRate())
        shown = "" if rate.rate is None else (f", response rate {100 * rate.rate:.0f} % "
                                              f"({rate.answered} of {rate.sent} sent)")
        lines.append(f"{program}: {n} answer{'s' if n != 1 else ''}, {score}{shown}")
    return lines


def rates_table(rates: Sequence[tuple[str, ResponseRate, ResponseRate]]) -> Table:
    """`closedloop status`: sent, answered and the rate, last 30 days and all time."""
    table = Table(title="Response rate (answered / surveys sent; reminders not counted)")
    table.add_column("program")
    for window in ("30 days", "all time"):
        for name in ("sent", "answered", "rate"):
            table.add_column(f"{name} ({window})", justify="right")
    for program, recent, ever in rates:
        cells = [program]
        for rate in (recent, ever):
            cells += [str(rate.sent), str(rate.answered),
                      "–" if rate.rate is None else f"{100 * rate.rate:.0f} %"]
        table.add_row(*cells)
    return table
