"""`closedloop forget` and `closedloop export`: a person's data erased, or every answer written out.

Registered on the main command by `register_privacy` (as triggers/send_cli does), so the
commands keep their names and options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from closedloop.daemon.cli_options import DEFAULT_CONFIG, ConfigPath
from closedloop.daemon.config import Config
from closedloop.daemon.env_secrets import state_url
from closedloop.integration.errors import ConfigError


def register_privacy(app: typer.Typer, friendly: Callable[[Any], Any],
                     _load: Callable[[Path], Config]) -> None:
    """Add `forget` and `export` to `app`; `_load` reads the config as every command does."""

    @app.command()
    @friendly
    def forget(email: Annotated[str, typer.Argument(help="The person's e-mail address.")],
               config: ConfigPath = DEFAULT_CONFIG) -> None:
        """Erase a person: responses, queued surveys, personal data; blank their CRM properties.

        Sent surveys keep their idempotency keys (scrubbed of personal data) so nobody is
        surveyed twice for a ticket; the suppression list keeps an unsubscribed address.
        """
        from closedloop.daemon.privacy import check_address, forget_person
        from closedloop.daemon.runtime import utcnow
        from closedloop.daemon.store import Store

        check_address(email)
        cfg = _load(config)
        store = Store(state_url(cfg))
        store.migrate()
        try:
            result = forget_person(store, email, utcnow())
        finally:
            store.dispose()
        if not result.found:
            typer.echo("nothing stored for that address" + (
                " (it stays on the suppression list, so it is never mailed)"
                if result.suppressed else ""))
            return
        typer.echo(f"forgotten: {result.responses} response(s) deleted, {result.sends_scrubbed} "
                   f"survey(s) scrubbed ({result.sends_cancelled} not yet sent, now cancelled)"
                   + (f", {result.alerts} queued alert(s) quoting them dropped"
                      if result.alerts else ""))
        by_source: dict[str, int] = {}
        for source, _ in result.contacts:
            by_source[source] = by_source.get(source, 0) + 1
        for source, count in sorted(by_source.items()):
            typer.echo(f"sources.{source}: {count} record(s) will have every ClosedLoop property "
                       "blanked by the write-back job (closedloop run)")
        if result.erasures:
            typer.echo(f"{result.erasures} survey(s): the ticket notes and follow-up text quoting "
                       "them will be removed from the CRM by the write-back job")
        if result.webhook_deliveries:
            typer.echo(f"{result.webhook_deliveries} undelivered webhook(s) quoting them dropped")
        if result.suppressed:
            typer.echo("the address stays on the suppression list, so it is never mailed again")

    @app.command()
    @friendly
    def export(config: ConfigPath = DEFAULT_CONFIG,
               fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
               output: Annotated[Path | None, typer.Option(
                   "--output", "-o", help="Write here instead of standard output.")] = None,
               since: Annotated[str | None, typer.Option(
                   help="Only responses answered or changed on/after this date (YYYY-MM-DD) "
                        "or time (ISO 8601, UTC unless it says).")] = None,
               everything: Annotated[bool, typer.Option(
                   "--all", help="Also the surveys sent without an answer (blank answer "
                                 "columns), for response rates.")] = False) -> None:
        """Write every response (program, score, comment, dates, contact, ticket, segments)."""
        from closedloop.daemon.privacy import FORMATS, write_export
        from closedloop.daemon.store import Store

        if fmt not in FORMATS:
            raise ConfigError([f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}"])
        start = since_option(since)
        cfg = _load(config)
        store = Store(state_url(cfg))
        store.migrate()
        segments = tuple(cfg.reporting.segments)
        rows = store.export_surveys if everything else store.export_responses
        try:
            if output is None:
                write_export(rows(start), sys.stdout, fmt, segments)
            else:
                with output.open("w", encoding="utf-8", newline="") as fh:
                    count = write_export(rows(start), fh, fmt, segments)
                typer.echo(f"{count} response(s) written to {output}", err=True)
        finally:
            store.dispose()


def since_option(value: str | None) -> datetime | None:
    """--since as an aware datetime (a date or ISO time, UTC unless it says)."""
    from datetime import UTC

    if value is None:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError([f"--since: expected a date such as 2026-11-01, got {value!r}"]
                          ) from None
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start
