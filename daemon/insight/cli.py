"""`closedloop report`: the report API on the command line (a sub-app: `report themes` and
other report commands hang off `report_app`).

Mistakes in the request (unknown segment or program, since after until, a bad --last)
print one line naming the valid choices and exit 2; a request that finds nothing exits 1.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from closedloop.daemon.cli_errors import friendly
from closedloop.daemon.cli_options import DEFAULT_CONFIG, ConfigPath
from closedloop.integration.errors import ConfigError

report_app = typer.Typer(help="Scores, response rates and trends from the answers.")
DEFAULT_WINDOW = {"day": "30d", "week": "12w", "month": "12m", "quarter": "4q"}


def _date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError([f"{option}: expected a date such as 2026-11-01, got {value!r}"]
                          ) from None


def parse_where(values: list[str]) -> dict[str, frozenset[str]]:
    """--where SEGMENT=VALUE, repeatable: one segment's values OR, segments AND."""
    found: dict[str, set[str]] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError([f"--where: expected SEGMENT=VALUE such as team=support, got "
                               f"{item!r}"])
        found.setdefault(name.strip(), set()).add(value.strip())
    return {name: frozenset(v) for name, v in found.items()}


@report_app.callback(invoke_without_command=True)
@friendly
def report_command(
    ctx: typer.Context,
    config: ConfigPath = DEFAULT_CONFIG,
    program: Annotated[list[str] | None, typer.Option(
        "--program", help="Only this program (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (local).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today).")
                     ] = None,
    last: Annotated[str | None, typer.Option(
        help="Instead of --since: the last N days/weeks/months/quarters/years, the current "
             "one included: 30d, 12w, 6m, 4q, 1y.")] = None,
    period: Annotated[str, typer.Option(help="day, week (ISO, from Monday), month or "
                                             "quarter.")] = "week",
    by: Annotated[str | None, typer.Option(help="Group by this segment (program, team, "
                                                "owner, a custom one...).")] = None,
    where: Annotated[list[str] | None, typer.Option(
        help="Only SEGMENT=VALUE (repeatable; one segment's values OR together).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    chart: Annotated[Path | None, typer.Option(
        help="Also draw the trend into FILE.svg or FILE.png.")] = None,
) -> None:
    """NPS, CSAT and CES per period (and segment), with 95 % intervals, the change against
    the previous period and the response rate."""
    if ctx.invoked_subcommand is not None:
        return
    from closedloop.daemon.insight.periods import PERIODS, last_window, local_day
    from closedloop.daemon.insight.render import FORMATS

    if fmt not in FORMATS:
        raise ConfigError([f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}"])
    if period not in PERIODS:
        raise ConfigError([f"--period: expected one of {', '.join(PERIODS)}, got {period!r}"])
    if chart is not None and chart.suffix.lower() not in {".svg", ".png"}:
        raise ConfigError([f"--chart: expected a file name ending in .svg or .png, got "
                           f"{str(chart)!r}"])
    if last is not None and since is not None:
        raise ConfigError(["--last and --since both say where the report starts; give one"])
    first, end = _date("--since", since), _date("--until", until)
    filters = parse_where(where or [])

    from zoneinfo import ZoneInfo

    from closedloop.daemon.config import load_config
    from closedloop.daemon.env_secrets import state_url
    from closedloop.daemon.logging import configure
    from closedloop.daemon.runtime import utcnow

    cfg = load_config(config)
    configure(cfg.daemon.log_format, level=40)
    settings = cfg.reporting
    names = [p.name for p in cfg.programs]
    unknown = [p for p in program or [] if p not in names]
    if unknown:
        raise ConfigError([f"--program: {', '.join(map(repr, unknown))} is not a configured "
                           f"program; expected one of: {', '.join(names)}"])
    today = local_day(utcnow(), ZoneInfo(settings.timezone))
    end = end or today
    if first is None:
        try:
            first = last_window(last or DEFAULT_WINDOW[period], end)[0]
        except ValueError as exc:
            raise ConfigError([str(exc)]) from None
    _run(cfg, state_url(cfg), first, end, period, tuple(program or ()), by, filters, fmt,
         chart)


def _run(cfg: Any, url: str, since: date, until: date, period: str,
         programs: tuple[str, ...], by: str | None, filters: dict[str, frozenset[str]],
         fmt: str, chart: Path | None) -> None:
    from rich.console import Console

    from closedloop.daemon.insight.chart import write_chart
    from closedloop.daemon.insight.render import table, write_csv, write_json
    from closedloop.daemon.insight.report import Query, ReportError, refresh, report
    from closedloop.daemon.runtime import utcnow
    from closedloop.daemon.store import Store

    query = Query(since=since, until=until, period=period,  # type: ignore[arg-type]
                  programs=programs, segment=by, filters=filters)
    store = Store(url)
    try:
        store.migrate()
        refresh(store, cfg.reporting, utcnow())
        rows = report(store, cfg.reporting, query)
    finally:
        store.dispose()
    if not rows:
        raise ReportError(f"no survey was sent or answered from {since} to {until} "
                          f"({cfg.reporting.timezone}) with these filters; try a longer "
                          "--last or other --where values", usage=False)
    if not any(r.figures.answers for r in rows):
        typer.echo(f"note: no answers from {since} to {until}: only sent counts and response "
                   "rates below", err=True)
    if fmt == "csv":
        write_csv(rows, sys.stdout)
    elif fmt == "json":
        write_json(rows, query, cfg.reporting.timezone, sys.stdout)
    else:
        Console().print(table(rows, query, cfg.reporting.timezone))
    if chart is not None:
        write_chart(chart, rows, query)
        typer.echo(f"chart written to {chart}", err=True)


def _register_subcommands() -> None:
    """`report themes` lives with the themes (insight/themes/cli.py)."""
    from closedloop.daemon.insight.themes.cli import report_themes

    report_app.command("themes")(friendly(report_themes))


_register_subcommands()
