"""`closedloop report themes`: the period's themes as a table, CSV or JSON.

The command first brings `response_themes` up to date (only answers changed since the last
run are read), then reports dictionary themes and discovered candidates. Periods are
rolling: `--period month` is the 30 days up to `--until` (default: now), compared with the 30
days before; `--since` and `--until` set both ends (dates are whole UTC days, `--until`
included).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes.assign import refresh_themes
from closedloop.daemon.insight.themes.discover import discover_themes
from closedloop.daemon.insight.themes.matcher import ThemeMatcher
from closedloop.daemon.insight.themes.report import (
    SORTS,
    ThemeRow,
    UnknownSegment,
    scope_filter,
    theme_report,
    totals,
)
from closedloop.daemon.insight.themes.text import LANGUAGES
from closedloop.daemon.store import Store
from closedloop.integration.errors import ConfigError

PERIODS = {"week": timedelta(days=7), "month": timedelta(days=30), "quarter": timedelta(days=91)}
FORMATS = ("table", "csv", "json")
CSV_COLUMNS = ("theme", "label", "kind", "answers", "share", "low", "low_share", "lift",
               "previous_answers", "previous_share", "quote_1", "quote_2", "quote_3")


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def previous(self) -> datetime:
        return self.since - (self.until - self.since)


@dataclass(frozen=True)
class ThemesOutput:
    window: Window
    base: int
    low_share: float | None
    rows: list[ThemeRow]
    discovered: list[ThemeRow]
    sample: int


def parse_window(since: str | None, until: str | None, period: str | None,
                 now: datetime) -> Window:
    """--since/--until/--period as a [since, until) window; ConfigError for bad input."""
    if period is not None and period not in PERIODS:
        raise ConfigError([f"--period: expected one of {', '.join(PERIODS)}, got {period!r}"])
    if period is not None and since is not None:
        raise ConfigError(["--period and --since both set the start: give one of them"])
    end = _moment("--until", until, end=True) if until else now
    start = _moment("--since", since) if since else end - PERIODS[period or "month"]
    if start >= end:
        raise ConfigError([f"--since {start:%Y-%m-%d %H:%M} is not before --until "
                           f"{end:%Y-%m-%d %H:%M}: the period is empty"])
    return Window(start, end)


def _moment(option: str, value: str, end: bool = False) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError([f"{option}: expected a date such as 2026-11-01 or a time such as "
                           f"2026-11-01T12:00, got {value!r}"]) from None
    if end and len(value.strip()) == 10:  # a date: the whole day is included
        moment += timedelta(days=1)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_themes(store: Store, matcher: ThemeMatcher, window: Window, now: datetime, *,
                 programs: Sequence[str] = (), language: str | None = None,
                 sort: str = "count", limit: int = 20, discover: int = 10,
                 reporting: ReportingSettings | None = None) -> ThemesOutput:
    """Refresh the stored themes (and their rollups, given `reporting`), then compute the
    report (ConfigError for bad filters). Its rolling windows are read from the tables."""
    check_options(sort, language)
    scope = {"language": [language]} if language else None
    refresh_themes(store, matcher, now, reporting=reporting)
    try:
        base = totals(store, window.since, window.until, scope_filter(scope, programs))
        rows = theme_report(store, since=window.since, until=window.until,
                            programs=programs or None, scope=scope, limit=limit,
                            themes=matcher.themes, sort=sort)
        found = discover_themes(store, matcher, since=window.since, until=window.until,
                                programs=programs or None, scope=scope, limit=discover)
    except UnknownSegment as exc:
        raise ConfigError([str(exc)]) from None
    return ThemesOutput(window=window, base=base.base, low_share=base.low_share, rows=rows,
                        discovered=found.rows, sample=found.sample)


def check_options(sort: str, language: str | None) -> None:
    """--sort and --language, checked before the state is opened."""
    if sort not in SORTS:
        raise ConfigError([f"--sort: expected one of {', '.join(SORTS)}, got {sort!r}"])
    if language is not None and language not in LANGUAGES:
        raise ConfigError([f"--language: expected one of {', '.join(LANGUAGES)}, "
                           f"got {language!r}"])


def empty_message(out: ThemesOutput) -> str | None:
    """The line to print instead of a report when there is nothing to report."""
    if out.base:
        return None
    return (f"no answers with a comment between {out.window.since:%Y-%m-%d %H:%M} and "
            f"{out.window.until:%Y-%m-%d %H:%M} UTC (after the filters): no themes to report")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def as_json(out: ThemesOutput) -> str:
    def row(r: ThemeRow) -> dict[str, Any]:
        return {"theme": r.theme, "label": r.label, "answers": r.count, "share": r.share,
                "low": r.low, "low_share": r.low_share, "lift": r.lift,
                "previous_answers": r.previous_count, "previous_share": r.previous_share,
                "quotes": [{"text": q.text, "score": q.score, "category": q.category,
                            "program": q.program, "answered_at": q.answered_at.isoformat()}
                           for q in r.quotes]}
    return json.dumps({
        "since": out.window.since.isoformat(), "until": out.window.until.isoformat(),
        "previous_since": out.window.previous.isoformat(), "answers_with_comment": out.base,
        "low_share": out.low_share, "themes": [row(r) for r in out.rows],
        "discovered": [row(r) for r in out.discovered], "discovered_sample": out.sample,
        "message": empty_message(out)}, indent=2, ensure_ascii=False)


def as_csv(out: ThemesOutput) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for kind, rows in (("dictionary", out.rows), ("discovered", out.discovered)):
        for r in rows:
            quotes = [q.text for q in r.quotes] + [""] * (3 - len(r.quotes))
            writer.writerow([_cell(v) for v in (
                r.theme, r.label, kind, r.count, _ratio(r.share), r.low, _ratio(r.low_share),
                _ratio(r.lift), "" if r.previous_count is None else r.previous_count,
                _ratio(r.previous_share), *quotes[:3])])
    return buffer.getvalue()


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (comments are customers' text)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def table_rows(rows: Sequence[ThemeRow]) -> list[tuple[str, ...]]:
    """Cells of the table: theme, answers, share %, low %, lift, previous, change."""
    out: list[tuple[str, ...]] = []
    for r in rows:
        change = r.change
        out.append((r.label if not r.discovered else f"{r.theme} (discovered)", str(r.count),
                    _pct(r.share), _pct(r.low_share),
                    "" if r.lift is None else f"{r.lift:.2f}",
                    "" if r.previous_count is None else str(r.previous_count),
                    "" if change is None else f"{100 * change:+.1f}"))
    return out


def print_themes(result: ThemesOutput, fmt: str, console: Console) -> None:
    """Write the report in `fmt`; an empty period is one line (JSON says it too)."""
    if fmt == "json":
        typer.echo(as_json(result))
        return
    if fmt == "csv":
        typer.echo(as_csv(result), nl=False)
        if (message := empty_message(result)) is not None:
            typer.echo(message, err=True)
        return
    if (message := empty_message(result)) is not None:
        typer.echo(message)
        return
    window = result.window
    table = Table(title=f"Comment themes {window.since:%Y-%m-%d %H:%M} to "
                        f"{window.until:%Y-%m-%d %H:%M} UTC: {result.base} answers with a "
                        f"comment, {_pct(result.low_share)} % unhappy")
    for column in ("theme", "answers", "share %", "unhappy %", "lift", "before", "change pts"):
        table.add_column(column, justify="left" if column == "theme" else "right")
    for cells in table_rows(result.rows):
        table.add_row(*cells)
    if result.discovered:
        table.add_section()
        for cells in table_rows(result.discovered):
            table.add_row(*cells)
    console.print(table)
    if result.discovered:
        console.print(f"discovered: frequent words of the latest {result.sample} comments that "
                      "no theme matched; add one to [themes] to track it", markup=False)
    for r in result.rows:
        for quote in r.quotes:
            console.print(f"{r.label}: “{quote.text}” ({quote.program}, {quote.score}, "
                          f"{quote.answered_at:%Y-%m-%d})", highlight=False, markup=False)


def report_themes(
        config: Annotated[Path, typer.Option(
            "--config", "-c", envvar="CLOSEDLOOP_CONFIG", help="The config file (TOML).")
                          ] = Path("config.toml"),
        program: Annotated[list[str] | None, typer.Option(
            "--program", help="Only this program (repeat for several).")] = None,
        since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD, UTC).")
                         ] = None,
        until: Annotated[str | None, typer.Option(
            help="Up to this date, included (default: now).")] = None,
        period: Annotated[str | None, typer.Option(
            help="week, month or quarter: the last 7, 30 or 91 days (default month).")
                          ] = None,
        language: Annotated[str | None, typer.Option(help="Only surveys in this language.")
                            ] = None,
        sort: Annotated[str, typer.Option(help="count, lift or impact.")] = "count",
        limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
        fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Comment themes of a period: how often, how unhappy, trend and example quotes."""
    from closedloop.daemon.config import load_config
    from closedloop.daemon.env_secrets import state_url
    from closedloop.daemon.logging import configure
    from closedloop.daemon.runtime import utcnow

    if fmt not in FORMATS:
        raise ConfigError([f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}"])
    now = utcnow()
    window = parse_window(since, until, period, now)
    check_options(sort, language)
    cfg = load_config(config)
    configure(cfg.daemon.log_format)
    unknown = [p for p in program or () if p not in {q.name for q in cfg.programs}]
    if unknown:
        raise ConfigError([f"--program: {unknown[0]!r} is not a configured program; expected "
                           f"one of: {', '.join(q.name for q in cfg.programs)}"])
    store = Store(state_url(cfg))
    store.migrate()
    try:
        result = build_themes(store, cfg.themes.matcher(), window, now, reporting=cfg.reporting,
                              programs=program or (),
                              language=language, sort=sort, limit=limit)
    finally:
        store.dispose()
    print_themes(result, fmt, Console())
