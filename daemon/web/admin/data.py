"""What each dashboard page shows, as plain data: the page, its JSON endpoint and its CSV
download all read these functions with the same `View` and the same `Scope`, so what a
download holds is exactly what is on screen and never more than the viewer may see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from closedloop.daemon.insight.periods import period_starts
from closedloop.daemon.insight.report import (
    CommentRow,
    Figures,
    Query,
    Row,
    Scope,
    distribution,
    latest_comments,
    report,
)
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.params import View

SCALES = {"nps": (-100.0, 100.0), "csat": (0.0, 100.0), "ces": (1.0, 7.0)}
COMMENTS_PAGE = 50


@dataclass(frozen=True)
class Table:
    """Columns and rows of one dataset (a CSV file, a JSON array, an HTML table)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, (_plain(v) for v in row), strict=True))
                for row in self.rows]


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 2)
    return value


def to_query(view: View, scope: Scope, *, segment: str | None = None) -> Query:
    return Query(since=view.since, until=view.until, period=view.period,
                 programs=view.programs, segment=segment, filters=dict(view.filters),
                 scope=scope)


def pick_type(rows: Sequence[Row], wanted: str | None) -> str:
    """The survey type shown: the one asked for, else the one with the most answers."""
    if wanted:
        return wanted
    answers: dict[str, int] = {}
    for row in rows:
        answers[row.figures.survey_type] = (answers.get(row.figures.survey_type, 0)
                                            + row.figures.answers)
    return max(sorted(answers), key=lambda t: answers[t]) if answers else "nps"


@dataclass(frozen=True)
class Total:
    """Figures over a whole range: every score is a mean over answers (NPS of +100/0/-100),
    so the answer-weighted mean of the periods' scores is the range's score, exactly."""

    sent: int
    answered: int
    answers: int
    score: float | None
    small_sample: bool

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.sent if self.sent else None


def total(figures: Sequence[Figures], small_sample: int) -> Total:
    answers = sum(f.answers for f in figures)
    weighted = [(f.score, f.answers) for f in figures if f.score is not None and f.answers]
    score = (sum(s * n for s, n in weighted) / sum(n for _, n in weighted)) if weighted else None
    answered = sum(getattr(f, "answered", 0) for f in figures)
    return Total(sent=sum(f.sent for f in figures), answered=answered, answers=answers,
                 score=score, small_sample=answers < small_sample)


def trend(store: Store, settings: ReportingSettings, view: View, scope: Scope
          ) -> tuple[str, Table]:
    """Every period of the range, one row each (a period without surveys shows zeros, so a
    chart's gaps are real gaps)."""
    rows = report(store, settings, to_query(view, scope))
    kind = pick_type(rows, view.survey_type)
    found = {r.period_start: r.figures for r in rows if r.figures.survey_type == kind}
    out: list[tuple[Any, ...]] = []
    for start in period_starts(view.since, view.until, view.period):
        f = found.get(start)
        if f is None:
            out.append((start, kind, 0, 0, None, None, None, None, None, True, None))
            continue
        out.append((start, kind, f.sent, f.answers,
                    None if f.response_rate is None else f.response_rate * 100, f.score,
                    f.ci_low, f.ci_high, f.mean, f.small_sample, f.change))
    return kind, Table(
        ("period_start", "survey_type", "sent", "answers", "response_rate", "score", "ci_low",
         "ci_high", "mean", "small_sample", "change"), out)


def segments(store: Store, settings: ReportingSettings, view: View, scope: Scope,
             segment: str) -> tuple[str, Table]:
    """One row per value of `segment` over the whole range, sorted as the view asks."""
    rows = report(store, settings, to_query(view, scope, segment=segment))
    kind = pick_type(rows, view.survey_type)
    grouped: dict[str, list[Figures]] = {}
    for r in rows:
        if r.figures.survey_type == kind:
            grouped.setdefault(r.segment_value or "", []).append(r.figures)
    out = []
    for value, figures in grouped.items():
        t = total(figures, settings.small_sample)
        rate = None if t.response_rate is None else t.response_rate * 100
        out.append((value, t.sent, t.answers, rate, t.score, t.small_sample))
    key_index = {"value": 0, "sent": 1, "answers": 2, "rate": 3, "score": 4}[view.sort]
    missing = float("-inf") if view.descending else float("inf")

    def key(row: tuple[Any, ...]) -> Any:
        v = row[key_index]
        return (v if v is not None else missing) if key_index else str(v).lower()

    out.sort(key=key, reverse=view.descending)
    return kind, Table((segment, "sent", "answers", "response_rate", "score", "small_sample"),
                       out)


def score_distribution(store: Store, settings: ReportingSettings, view: View, scope: Scope,
                       kind: str) -> Table:
    counts = distribution(store, settings, to_query(view, scope)).get(kind, {})
    low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[kind]
    return Table(("score", "answers"), [(s, counts.get(s, 0)) for s in range(low, high + 1)])


def comments(store: Store, settings: ReportingSettings, view: View, scope: Scope,
             link: Callable[[CommentRow], str | None] | None = None) -> Table:
    found = latest_comments(store, settings, to_query(view, scope),
                            unhappy_first=not view.newest_first, categories=view.categories,
                            limit=COMMENTS_PAGE, offset=view.offset)
    return Table(("send_id", "answered_at", "program", "survey_type", "score", "category",
                  "comment", "source", "ticket_id", "contact_id", "segments", "crm_url"),
                 [(c.send_id, c.answered_at, c.program, c.survey_type, c.score, c.category,
                   c.comment, c.source, c.ticket_id, c.contact_id,
                   "; ".join(f"{k}={v}" for k, v in sorted(c.segments.items()) if v),
                   link(c) if link else None) for c in found])
