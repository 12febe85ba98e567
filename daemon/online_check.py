"""`closedloop check --online`: ask each CRM about its token, scopes, lists and mapped
properties, and Twilio about the [sms] account and sender; print what is fine, return the
problems (the command exits 1 on any)."""

from __future__ import annotations

from typing import Any

import typer

from closedloop.daemon.config import Config
from closedloop.daemon.env_secrets import Secrets


def _close(adapter: object) -> None:
    """Adapters holding a session (and zenpy's process-wide override) are closed after use."""
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def online_problems(cfg: Config, mappings: dict[str, Any], secrets: Secrets) -> list[str]:
    """Ask each CRM about its token, scopes, lists and mapped properties; print what is fine.
    Segment properties the CRM lacks are warned about, not counted as problems."""
    from closedloop.daemon.insight.capture import segment_warnings
    from closedloop.daemon.wiring import build_adapter

    problems: list[str] = []
    for name, mapping in mappings.items():
        adapter = build_adapter(name, cfg, secrets)
        scopes = getattr(adapter, "required_scopes", ())
        try:
            result = adapter.check_online(scopes, mapping.property_names(),
                                          mapping.ticket_property_names())
            if not result.problems:  # the token works: ask about the segment properties
                for line in segment_warnings(cfg.reporting, name, adapter):
                    typer.echo(f"warning: {line}", err=True)
        finally:
            _close(adapter)
        for line in result.problems:
            problems.append(f"sources.{name}: {line}")
        if result.missing_properties:
            problems.append(f"sources.{name}: " + _missing(
                result.missing_properties, len(mapping.property_names()), cfg.sources[name].crm))
        if result.missing_ticket_properties:
            problems.append(f"sources.{name}: " + _missing(
                result.missing_ticket_properties, len(mapping.ticket_property_names()),
                "tickets"))
        if result.ok:
            tickets = len(mapping.ticket_property_names())
            typer.echo(f"sources.{name}: token OK, {'scopes OK, ' if scopes else ''}"
                      f"{len(mapping.property_names())} mapped properties exist"
                      + (f", {tickets} ticket properties exist" if tickets else ""))
    return problems


def sms_problems(cfg: Config, secrets: Secrets) -> list[str]:
    """Ask Twilio about the account and the sender when [sms] is set; print what is fine."""
    from closedloop.daemon.channels.sms_check import check_sms_online

    if not cfg.sms.enabled or secrets.sms_auth_token is None:
        return []
    found = check_sms_online(cfg.sms, secrets.sms_auth_token.get_secret_value(),
                             str(cfg.daemon.public_url))
    for line in found.ok:
        typer.echo(line)
    for line in found.warnings:
        typer.echo(f"warning: {line}", err=True)
    return found.problems


def _missing(names: list[str], total: int, crm: str) -> str:
    """One line for every mapped property the CRM lacks (before `setup` that is all of them)."""
    what = {"hubspot": "contact properties", "tickets": "ticket properties"}.get(
        crm, "user fields")
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"{len(names)} of {total} mapped {what} do not exist yet "
            f"({shown}): `closedloop setup` creates them")
