"""A report's rows as a terminal table, CSV or JSON (what `closedloop report` prints).

Every format carries the same figures; numbers are rounded for the table only. Shares have
one column per category of every survey type, blank where a type has no such category.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Any, TextIO

from rich.table import Table

from closedloop.daemon.insight.report import Query, Row
from closedloop.daemon.insight.stats import CATEGORY_NAMES

FORMATS = ("table", "csv", "json")
SHARE_NAMES = tuple(name for names in CATEGORY_NAMES.values() for name in names if name)
COLUMNS = ("period_start", "segment", "survey_type", "answers", "score", "ci_low", "ci_high",
           "mean", "change", "small_sample", "sent", "answered", "response_rate",
           *(f"share_{name}" for name in SHARE_NAMES))
LABELS = {"nps": "NPS", "csat": "CSAT %", "ces": "CES"}


def as_dict(row: Row) -> dict[str, Any]:
    """One row as plain values (None where a figure does not exist)."""
    f = row.figures
    return {
        "period_start": row.period_start.isoformat(), "segment": row.segment_value,
        "survey_type": f.survey_type, "answers": f.answers, "score": f.score,
        "ci_low": f.ci_low, "ci_high": f.ci_high, "mean": f.mean, "change": f.change,
        "small_sample": f.small_sample, "sent": f.sent, "answered": f.answered,
        "response_rate": f.response_rate,
        **{f"share_{name}": f.shares.get(name) for name in SHARE_NAMES},
    }


def write_csv(rows: Sequence[Row], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = as_dict(row)
        writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])


def write_json(rows: Sequence[Row], query: Query, timezone: str, out: TextIO) -> None:
    head = {"since": query.since.isoformat(), "until": query.until.isoformat(),
            "period": query.period, "timezone": timezone, "programs": list(query.programs),
            "segment": query.segment,
            "filters": {k: sorted(v) for k, v in sorted(query.filters.items())}}
    out.write(json.dumps({"query": head, "rows": [as_dict(r) for r in rows]}, indent=2) + "\n")


def _num(value: float | None, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def table(rows: Sequence[Row], query: Query, timezone: str) -> Table:
    """The terminal table: a small sample's score is marked with '*' (see the caption)."""
    grid = Table(title=f"{query.period.capitalize()}ly report {query.since} – {query.until} "
                       f"({timezone})", caption="* fewer answers than reporting.small_sample: "
                       "read with care; 95 % intervals")
    grid.add_column(query.period, no_wrap=True)
    if query.segment is not None:
        grid.add_column(query.segment)
    for name, justify in (("survey", "left"), ("answers", "right"), ("score", "right"),
                          ("95 % CI", "right"), ("change", "right"),
                          ("low/mid/high %", "right"),
                          ("sent", "right"), ("response rate", "right")):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        f = row.figures
        digits = 2 if f.survey_type == "ces" else 1
        interval = ("–" if f.ci_low is None or f.ci_high is None
                    else f"{f.ci_low:.{digits - 1}f}–{f.ci_high:.{digits - 1}f}")
        low, middle, high = CATEGORY_NAMES.get(f.survey_type, ("", None, ""))
        shares = "/".join(f"{f.shares[name]:.0f}" for name in (low, middle or "", high)
                          if name in f.shares)
        cells = [row.period_start.isoformat()]
        if query.segment is not None:
            cells.append(row.segment_value or "(not set)")
        cells += [LABELS.get(f.survey_type, f.survey_type), str(f.answers),
                  _num(f.score, digits) + ("*" if f.small_sample and f.answers else ""),
                  interval, _num(f.change, digits, sign=True), shares, str(f.sent),
                  "–" if f.response_rate is None else f"{100 * f.response_rate:.0f} %"]
        grid.add_row(*cells)
    return grid
