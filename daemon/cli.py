"""The `closedloop` command. User mistakes end in one clear line per problem and exit code 2."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from closedloop.daemon.cli_errors import friendly
from closedloop.daemon.cli_options import DEFAULT_CONFIG, ConfigPath
from closedloop.daemon.config import Config, load_config, redacted
from closedloop.daemon.env_secrets import read_secrets, state_url
from closedloop.daemon.insight.cli import report_app
from closedloop.daemon.logging import configure
from closedloop.daemon.privacy_cli import register_privacy, since_option
from closedloop.daemon.triggers.send_cli import register_send
from closedloop.daemon.web.admin.cli import users_app
from closedloop.daemon.web.widget.settings import widget_problems
from closedloop.integration.errors import ConfigError
from closedloop.integration.sandbox.cli import sandbox_app

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Customer-feedback surveys for HubSpot, written back to the CRM.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
alerts_app = typer.Typer(no_args_is_help=True, help="Check the [[alerts]] rules.")
app.add_typer(config_app, name="config")
app.add_typer(alerts_app, name="alerts")
webhooks_app = typer.Typer(no_args_is_help=True, help="Outbound webhooks ([[webhooks]]).")
app.add_typer(sandbox_app(friendly), name="sandbox")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(report_app, name="report")

out = Console()



def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"closedloop {version('closedloop')}")
        raise typer.Exit


@app.callback()
def _main(_: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False) -> None:
    """Customer-feedback surveys for HubSpot and Zendesk, written back to the CRM."""


def _load(path: Path) -> Config:
    config = load_config(path)
    configure(config.daemon.log_format)
    return config


app.add_typer(users_app(friendly, _load), name="users")
register_send(app, friendly, _load)
register_privacy(app, friendly, _load)


@app.command()
@friendly
def demo(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
         seed: int = 7,
         crm: Annotated[str, typer.Option(help="The sandbox CRM: hubspot or zendesk.")
                        ] = "hubspot",
         serve: Annotated[bool, typer.Option(
             "--serve", help="Keep the daemon and its dashboard running after the demo, "
                             "until Ctrl-C.")] = False,
         channels: Annotated[bool, typer.Option(
             "--channels", help="Also a survey asked for by the CRM's own automation (a "
                                "signed webhook), and surveys texted by SMS (a sandbox Twilio "
                                "gateway) answered by reply.")] = False) -> None:
    """Run the whole loop on embedded defaults: a sandbox CRM, SQLite, local mail."""
    from closedloop.daemon.channels.demo import run_sms_demo, sms_table
    from closedloop.daemon.demo import DEMO_CRMS, run_demo
    from closedloop.daemon.demo_report import DemoReport
    from closedloop.daemon.web.admin.cli import dashboard_lines, wait_for_interrupt

    if crm not in DEMO_CRMS:
        raise ConfigError([f"--crm: expected one of {', '.join(DEMO_CRMS)}, got {crm!r}"])
    configure("json" if as_json else "console", level=40)  # only errors during the demo
    label = {"hubspot": "HubSpot", "zendesk": "Zendesk"}[crm]
    texts = run_sms_demo(seed=seed, crm_name=crm) if channels else None

    def show(report: DemoReport) -> None:
        if as_json:
            extra = {"sms": texts.as_dict()} if texts is not None else {}
            typer.echo(json.dumps({**report.as_dict(), **extra}, indent=2))
        else:
            table = Table(title=f"ClosedLoop demo (sandbox {label}, SQLite, local mail)")
            table.add_column("what")
            table.add_column("count", justify="right")
            for what, count in report.rows(label):
                table.add_row(what, str(count))
            out.print(table)
            if report.summary:
                out.print("Report of the demo's answers (closedloop report shows more):")
                for line in report.summary:
                    out.print(f"  {line}")
            if texts is not None:
                out.print(sms_table(texts, label))
            typer.echo(dashboard_lines(report.dashboard, serving=serve))
        if serve:
            wait_for_interrupt()

    run_demo(seed=seed, crm_name=crm, hold=show, channels=channels)


@app.command()
@friendly
def init(path: Annotated[Path, typer.Argument(help="Where to write it (a folder gets "
                                              "config.toml).")] = DEFAULT_CONFIG,
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False) -> None:
    """Write the commented example config to start from (every key explained)."""
    from closedloop.daemon.example_config import write_example_config

    written = write_example_config(path, force=force)
    option = "" if written == DEFAULT_CONFIG else f" --config {written}"
    typer.echo(f"wrote {written}: edit it, export the secrets it names, then run "
               f"`closedloop check{option}`")


@app.command()
@friendly
def run(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Start the daemon: poll, dispatch and write-back jobs plus the response web app."""
    from closedloop.daemon.runtime import build_runtime
    from closedloop.daemon.service import run_forever

    cfg = _load(config)
    run_forever(build_runtime(cfg, read_secrets(cfg)))


@app.command()
@friendly
def check(config: ConfigPath = DEFAULT_CONFIG,
          online: Annotated[bool, typer.Option(help="Also ask the CRM: token, scopes, "
                                               "properties.")] = False) -> None:
    """Validate the config and mappings offline, and with --online against the CRM."""
    from closedloop.daemon.online_check import online_problems, sms_problems
    from closedloop.daemon.store import parse_url
    from closedloop.mappings import load_mapping

    cfg = _load(config)
    problems: list[str] = []
    try:
        parse_url(cfg.daemon.state_url)
    except ConfigError as exc:
        problems += exc.problems
    mappings = {}
    programs = cfg.program_list()
    for name, source in cfg.sources.items():
        try:
            mappings[name] = load_mapping(source.crm, source.mapping,
                                          [p for p in programs if p.source == name],
                                          themes_property=cfg.themes.property)
        except ConfigError as exc:
            problems += exc.problems
    try:
        secrets = read_secrets(cfg)
    except ConfigError as exc:
        problems += exc.problems
    problems += widget_problems(cfg.widget)
    if problems:
        raise ConfigError(problems)
    typer.echo(f"{config}: OK ({len(cfg.sources)} source(s), {len(cfg.programs)} program(s))")
    if not online:
        return
    problems = online_problems(cfg, mappings, secrets) + sms_problems(cfg, secrets)
    if problems:
        for line in problems:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1)


@app.command()
@friendly
def setup(config: ConfigPath = DEFAULT_CONFIG,
          zendesk_trigger: Annotated[bool, typer.Option(
              "--zendesk-trigger", help="create the Zendesk webhook, its 'ticket solved' "
              "trigger (notifications) and a survey trigger per event program")] = False,
          ) -> None:
    """Create the property group and properties in the CRM (idempotent) and the state tables;
    with notifications or triggers on, the HubSpot webhook steps and (--zendesk-trigger)
    Zendesk's webhook and triggers, its signing secret read back."""
    from closedloop.daemon.insight.capture import segment_warnings
    from closedloop.daemon.notify_setup import notification_setup
    from closedloop.daemon.runtime import build_runtime
    from closedloop.daemon.triggers.setup import trigger_setup

    cfg = _load(config)
    # The inbound secrets may not exist yet: setup reads Zendesk's back and says so.
    rt = build_runtime(cfg, read_secrets(cfg, hooks_optional=True))
    try:
        rt.store.migrate()
        for name, adapter in rt.adapters.items():
            mapping = rt.mappings[name]
            created = adapter.ensure_properties(mapping.group_name, mapping.group_label,
                                                mapping.specs())
            on_tickets = set(mapping.ticket_property_names())
            contacts = [n for n in created if n not in on_tickets]
            typer.echo(f"sources.{name}: {len(contacts)} "
                      f"propert{'y' if len(contacts) == 1 else 'ies'} created, "
                      f"{len(mapping.property_names()) - len(contacts)} already there"
                      + (f"; ticket properties: {len(created) - len(contacts)} created, "
                         f"{len(on_tickets) - len(created) + len(contacts)} already there"
                         if on_tickets else ""))
            for line in segment_warnings(cfg.reporting, name, adapter):
                typer.echo(f"warning: {line}", err=True)  # ours to read, not to create
        for line in notification_setup(rt, zendesk_trigger) + trigger_setup(rt, zendesk_trigger):
            typer.echo(line)
    finally:
        rt.close()


@app.command()
@friendly
def status(config: ConfigPath = DEFAULT_CONFIG,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts from the state (surveys by status, skips by reason, answers, write-backs,
    unsubscribes and snoozes) and each source's health (a refused token pauses a source)."""
    from closedloop.daemon.insight.rates import program_rates, rates_table
    from closedloop.daemon.runtime import utcnow
    from closedloop.daemon.store import Store

    cfg = _load(config)
    store = Store(state_url(cfg))
    try:
        store.migrate()
        counts = store.counts()
        sources = store.source_states(sorted(cfg.sources))
        rates = program_rates(store, [p.name for p in cfg.programs], utcnow())
    finally:
        store.dispose()
    health = {name: sources[name].as_dict() for name in sorted(cfg.sources)}
    if as_json:
        by_program = {name: {"last_30_days": recent.as_dict(), "all_time": ever.as_dict()}
                      for name, recent, ever in rates}
        typer.echo(json.dumps({**counts, "sources": health, "response_rates": by_program},
                              indent=2, sort_keys=True))
        return
    table = Table(title="ClosedLoop status")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in sorted(counts.items()):
        table.add_row(key, str(value))
    out.print(table)
    out.print(rates_table(rates))
    if counts.get("alerts.dead", 0):
        out.print(f"{counts['alerts.dead']} alert(s) could not be delivered (alerts.dead); "
                  "the log says why (alerts.dead events with the HTTP status and reason).")
    unknown = counts.get("sends.outcome_unknown", 0)
    dead = sum(v for k, v in counts.items() if k.startswith("webhooks.") and k.endswith(".dead"))
    if dead:
        out.print(f"{dead} webhook(s) dead-lettered (see each endpoint's log lines); send them "
                  "again with `closedloop webhooks replay --dead`.")
    if unknown:
        out.print(f"{unknown} survey(s) with outcome_unknown: the relay may have them (the "
                  "connection or the daemon died after the message was handed over). They "
                  "count as sent for the cooldowns, are never sent again and get no reminder.")
    states = Table(title="Sources (UTC; --json for the whole error)")
    for column in ("source", "state", "since", "next check", "error"):
        states.add_column(column)
    for name, state in sources.items():
        if name in cfg.sources:
            states.add_row(name, state.state, _minute(state.since), _minute(state.next_check_at),
                           _short(state.error or ""))
    out.print(states)


def _minute(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


@app.command()
@friendly
def plan(config: ConfigPath = DEFAULT_CONFIG,
         days: Annotated[int, typer.Option(min=1, max=366, help="How many days ahead.")] = 7,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Dry run: who would be surveyed in the next N days, when, and who skipped and why."""
    from closedloop.daemon.plan import plan_tables
    from closedloop.daemon.runtime import build_runtime

    cfg = _load(config)
    rt = build_runtime(cfg, read_secrets(cfg))
    rt.store.migrate()
    try:
        result = rt.plan(days)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    for table in plan_tables(result):
        out.print(table)


@webhooks_app.command("replay")
@friendly
def webhooks_replay(
        config: ConfigPath = DEFAULT_CONFIG,
        dead: Annotated[bool, typer.Option("--dead", help="Only dead-lettered deliveries.")
                        ] = False,
        since: Annotated[str | None, typer.Option(
            help="Only events from this date (YYYY-MM-DD) or time (ISO 8601) on.")] = None,
        event: Annotated[str | None, typer.Option(
            help="Only this event (its id, e.g. evt_42).")] = None) -> None:
    """Send delivered or dead webhooks again (same event id: receivers can dedupe);
    `closedloop run` posts them at its next webhook run."""
    from closedloop.daemon.runtime import utcnow
    from closedloop.daemon.store import Store, parse_event_id

    start = since_option(since)
    try:
        wanted = None if event is None else parse_event_id(event)
    except ValueError as exc:
        raise ConfigError([f"--event: {exc}"]) from None
    cfg = _load(config)
    store = Store(state_url(cfg))
    store.migrate()
    try:
        count = store.replay_deliveries(utcnow(), dead_only=dead, since=start, event_id=wanted,
                                        endpoints=[hook.name for hook in cfg.webhooks])
    finally:
        store.dispose()
    typer.echo(f"{count} webhook delivery(ies) queued again")


@config_app.command("show")
@friendly
def config_show(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Print the effective configuration (secrets are never in it)."""
    typer.echo(json.dumps(redacted(_load(config)), indent=2, default=str))


@alerts_app.command("test")
@friendly
def alerts_test(name: Annotated[str, typer.Argument(help="The alert rule's name.")],
                config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Send a sample alert through the rule's real channel, to check the wiring."""
    from closedloop.daemon.actions.alerts.test import send_test

    cfg = _load(config)
    typer.echo(send_test(cfg, name))


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
