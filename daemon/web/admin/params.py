"""The dashboard's query string, read into the report contract's `Query`.

The range is widened to whole periods (a week view from a Wednesday starts on its Monday).

Reserved names pick the period, range, programs, survey type, grouping and sort; every other
name is a segment filter (`?store=oslo&store=bergen`). An unknown segment or period, a date
that is not a date or a range too long for its period is a `BadRequest` (a 400 page naming
the valid choices), never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, cast

from closedloop.daemon.insight.periods import next_start, period_start
from closedloop.daemon.insight.segments import builtin_names
from closedloop.daemon.insight.settings import ReportingSettings

PERIODS = ("day", "week", "month", "quarter")
Period = Literal["day", "week", "month", "quarter"]
SURVEY_TYPES = ("nps", "csat", "ces")
CATEGORIES = ("detractor", "passive", "promoter", "unsatisfied", "neutral", "satisfied",
              "difficult", "easy")
RESERVED = frozenset({"period", "since", "until", "program", "segment", "type", "sort", "dir",
                      "category", "offset", "order"})
DEFAULT_SPAN = {"day": timedelta(days=30), "week": timedelta(weeks=12),
                "month": timedelta(days=365), "quarter": timedelta(days=730)}
MAX_DAYS = {"day": 366, "week": 366 * 3, "month": 366 * 10, "quarter": 366 * 20}
MAX_VALUE = 200
SORTS = ("value", "score", "answers", "sent", "rate")


class BadRequest(ValueError):
    """A query string the dashboard cannot answer; the message says what is expected."""


@dataclass(frozen=True)
class View:
    """Everything a page was asked for, validated."""

    since: date
    until: date
    period: Period
    programs: tuple[str, ...] = ()
    survey_type: str | None = None
    segment: str | None = None
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    sort: str = "score"
    descending: bool = True
    categories: tuple[str, ...] = ()
    offset: int = 0
    newest_first: bool = False


def segment_names(settings: ReportingSettings) -> tuple[str, ...]:
    return (*builtin_names(), *settings.segments)


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in params.get(name, ()) if v != ""]
    if len(values) > 1:
        raise BadRequest(f"{name!r} is given {len(values)} times; give it once")
    return values[0] if values else None


def _date(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: expected a date as YYYY-MM-DD, got {text[:40]!r}") from None


def _choice(params: Mapping[str, Sequence[str]], name: str, choices: Sequence[str],
            default: str | None) -> Any:
    value = _one(params, name)
    if value is None:
        return default
    if value not in choices:
        raise BadRequest(f"unknown {name} {value[:40]!r}; expected one of: {', '.join(choices)}")
    return value


def _filters(params: Mapping[str, Sequence[str]], known: Sequence[str]
             ) -> dict[str, frozenset[str]]:
    filters: dict[str, frozenset[str]] = {}
    for name, values in params.items():
        if name in RESERVED:
            continue
        if name not in known:
            raise BadRequest(f"unknown segment {name[:40]!r}; expected one of: "
                             f"{', '.join(known)}")
        chosen = frozenset(v for v in values if v != "")
        if any(len(v) > MAX_VALUE for v in chosen):
            raise BadRequest(f"{name}: a value is at most {MAX_VALUE} characters")
        if chosen:
            filters[name] = chosen
    return filters


def read_view(params: Mapping[str, Sequence[str]], settings: ReportingSettings,
              today: date, *, default_segment: str | None = None) -> View:
    """`params` is the query string as name -> values (repeats kept)."""
    period = _choice(params, "period", PERIODS, "week")
    until = _date(_one(params, "until"), "until") or today
    since = _date(_one(params, "since"), "since") or until - DEFAULT_SPAN[period]
    if since > until:
        raise BadRequest(f"the range starts ({since}) after it ends ({until})")
    # Whole periods: the first and last are not cut short, and the report rollups (kept per
    # week and month) can answer instead of the tables.
    since = period_start(since, period)
    until = next_start(period_start(until, period), period) - timedelta(days=1)
    if (until - since).days > MAX_DAYS[period]:
        raise BadRequest(f"a {period} view covers at most {MAX_DAYS[period]} days; choose a "
                         f"longer period or a shorter range")
    known = segment_names(settings)
    filters = _filters(params, known)
    segment = _one(params, "segment") or default_segment
    if segment is not None and segment not in known:
        raise BadRequest(f"unknown segment {segment[:40]!r}; expected one of: "
                         f"{', '.join(known)}")
    survey_type = _choice(params, "type", SURVEY_TYPES, None)
    categories = tuple(sorted({c for c in params.get("category", ()) if c}))
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise BadRequest(f"unknown category {unknown[0][:40]!r}; expected one of: "
                         f"{', '.join(CATEGORIES)}")
    sort = _choice(params, "sort", SORTS, "score")
    direction = _choice(params, "dir", ("asc", "desc"), "desc")
    offset_text = _one(params, "offset") or "0"
    if not offset_text.isdigit() or len(offset_text) > 7:
        raise BadRequest(f"offset: expected a whole number, got {offset_text[:20]!r}")
    order = _choice(params, "order", ("unhappy", "newest"), "unhappy")
    programs = tuple(sorted({p for p in params.get("program", ()) if p}))
    return View(since=since, until=until, period=cast(Period, period), programs=programs,
                survey_type=survey_type, segment=segment, filters=filters, sort=sort,
                descending=direction == "desc", categories=categories,
                offset=int(offset_text), newest_first=order == "newest")
