"""`closedloop send`: survey one person now, or everyone in a CSV file, through the same
outbox, rules, fatigue ledger and suppressions as polled tickets (daemon/triggers/bulk.py).

Exit codes: 0 every row was queued or skipped for a reason; 1 some row was rejected (its
line number and problem are printed) or the CRM failed midway (run it again: what was
queued is not queued twice); 2 a mistake in the command, the config or the file's header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from closedloop.daemon.cli_options import DEFAULT_CONFIG, ConfigPath
from closedloop.daemon.config import Config
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.triggers.bulk import (
    BATCH_NAME,
    Outcome,
    SendRequest,
    SendSummary,
    batch_name,
    send_people,
)
from closedloop.daemon.triggers.errors import TriggerError
from closedloop.daemon.triggers.intake import find_program
from closedloop.daemon.triggers.people_csv import (
    PersonRow,
    RowError,
    open_people,
    person_from,
    read_people,
)
from closedloop.integration.errors import ClosedLoopError, ConfigError


def register_send(app: typer.Typer, friendly: Callable[[Any], Any],
                  load: Callable[[Path], Config]) -> None:
    """Add `send` to the main command (daemon/cli.py calls this once)."""

    @app.command()
    @friendly
    def send(
        program: Annotated[str, typer.Option(help="The program to survey for.")],
        email: Annotated[str | None, typer.Option(help="One person's e-mail address.")] = None,
        csv: Annotated[Path | None, typer.Option(
            help="A CSV file: email, name, language, time zone and segment columns, a "
                 "header row, ',' or ';' separated, UTF-8.")] = None,
        name: Annotated[str | None, typer.Option(help="--email: the name to greet.")] = None,
        language: Annotated[str | None, typer.Option(
            help="--email: the survey's language (e.g. fr).")] = None,
        timezone: Annotated[str | None, typer.Option(
            "--time-zone", help="--email: an IANA zone for quiet hours.")] = None,
        ticket: Annotated[str | None, typer.Option(
            help="--email: the ticket the survey is about.")] = None,
        batch: Annotated[str | None, typer.Option(
            help="What makes a send unique with program and person (default: the CSV "
                 "file's name; --email: once a day per person and ticket).")] = None,
        plan: Annotated[bool, typer.Option(
            "--plan", help="Show what would happen to each person; write nothing.")] = False,
        config: ConfigPath = DEFAULT_CONFIG,
    ) -> None:
        """Survey one person (--email) or a list (--csv) now: the same rules as every survey."""
        if (email is None) == (csv is None):
            _usage("give either --email or --csv")
        if csv is not None and (name or language or timezone or ticket):
            _usage("--name, --language, --time-zone and --ticket go with --email; a CSV "
                   "file has columns for them")
        if batch is not None and not BATCH_NAME.match(batch):
            _usage("--batch: letters, digits, '.', '_' or '-', 40 at most")
        cfg = load(config)
        summary = _run(cfg, program, email, csv, name, language, timezone, ticket, batch,
                       plan)
        raise typer.Exit(1 if summary.rejected else 0)


def _usage(message: str) -> None:
    raise ConfigError([message])


def _run(cfg: Config, program_name: str, email: str | None, csv: Path | None,
         name: str | None, language: str | None, timezone: str | None, ticket: str | None,
         batch: str | None, plan: bool) -> SendSummary:
    from closedloop.daemon.runtime import build_runtime

    programs = cfg.program_list()
    try:
        program = find_program(programs, program_name)
    except TriggerError as exc:
        raise ConfigError([f"--program: {exc.detail}"]) from None
    segments = tuple(cfg.reporting.segments)
    with ExitStack() as stack:
        rows: Iterator[PersonRow | RowError]
        if csv is not None:
            request = SendRequest(program, "csv", batch or batch_name(csv.stem), plan=plan)
            rows = read_people(stack.enter_context(open_people(csv)), segments)
        else:
            assert email is not None
            person = person_from(0, email, name, language, timezone)
            if isinstance(person, RowError):
                raise ConfigError([f"--email: {person.problem}"])
            if ticket is not None and not ticket.isdigit():
                raise ConfigError(["--ticket: expected the CRM's ticket id (digits)"])
            request = SendRequest(program, "manual", batch, ticket_id=ticket, plan=plan)
            rows = iter([person])
        rt = build_runtime(cfg, read_secrets(cfg))
        stack.callback(rt.close)
        summary = SendSummary()  # counted as the rows go, for a run the CRM cuts short
        try:
            rt.store.migrate()
            send_people(rt.store, rt.adapters, programs, cfg.policy(), request, rows,
                        rt.clock(), _printer(plan, summary), reporting=cfg.reporting)
        except TriggerError as exc:  # the program's source is not configured, and the like
            raise ConfigError([exc.detail]) from None
        except ClosedLoopError as exc:
            typer.echo(f"error: {exc}", err=True)
            typer.echo(f"stopped after: {summary.text(plan=plan)}; the same command run "
                       "again goes on from there", err=True)
            raise typer.Exit(1) from None
    typer.echo(summary.text(plan=plan))
    typer.echo(_key_note(request))
    return summary


def _printer(plan: bool, running: SendSummary) -> Callable[[Outcome], None]:
    """One line per person (--plan), or per person not queued; `running` keeps the count
    so far for a run the CRM cuts short."""
    def show(outcome: Outcome) -> None:
        running.add(outcome)
        where = f"line {outcome.line}: " if outcome.line else ""
        if outcome.status == "rejected":
            typer.echo(f"{where}rejected: {outcome.reason}", err=True)
            return
        if outcome.status == "queued" and not plan:
            return
        what = ("would queue" if plan else "queued") if outcome.status == "queued" \
            else ("would skip" if plan else "skipped") + f" ({outcome.reason})"
        extra = []
        if outcome.detail:
            extra.append(f"as {outcome.detail}" if outcome.reason == "duplicate"
                         else f"waits: {outcome.detail}")
        if outcome.status == "queued" and outcome.due_at is not None:
            extra.append(f"due {outcome.due_at:%Y-%m-%d %H:%M} UTC")
        typer.echo(f"{where}{what}: {outcome.email}" + (f" ({', '.join(extra)})"
                                                         if extra else ""))
    return show


def _key_note(request: SendRequest) -> str:
    if request.batch:
        return (f"batch {request.batch!r}: one survey per program, batch and person; run it "
                "again and only new people are queued (--batch NAME sends the same people "
                "again, the rules permitting)")
    return ("one survey per program, person and ticket a day (--batch NAME to key it "
            "yourself)")

