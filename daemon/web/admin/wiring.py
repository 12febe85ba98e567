"""The dashboard built from the config, for the daemon's web app (runtime.web_app)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from closedloop.daemon.config import Config
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.app import RecordLink, create_admin_app


def record_link(config: Config) -> RecordLink | None:
    """source, ticket, contact -> the CRM record's URL (insight's links.record_url), if the
    insight package provides it."""
    try:
        from closedloop.daemon.insight.links import record_url
    except ImportError:  # pragma: no cover - depends on the insight helper's branch
        return None

    def link(source: str, ticket_id: str | None, contact_id: str) -> str | None:
        settings = config.sources.get(source)
        if settings is None:
            return None
        return record_url(settings, settings.crm, ticket_id, contact_id)

    return link


def admin_app(config: Config, store: Store, secret: str,
              clock: Callable[[], datetime]) -> FastAPI:
    accounts = Accounts(store, config.users, config.reporting.scope)
    return create_admin_app(
        store=store, settings=config.reporting, accounts=accounts, secret=secret,
        secure_cookies=str(config.daemon.public_url).startswith("https://"), clock=clock,
        record_link=record_link(config))
