"""The dashboard's part of `closedloop demo`: the reports brought up to date and a
headquarters login with a random password, printed once at the end. The demo's answers carry
the region and store the sandbox CRMs hold (captured when queued, `[reporting]` in the demo's
config), so the dashboard's scopes have something to show.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime

from closedloop.daemon.config import Config
from closedloop.daemon.insight.report import refresh
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.passwords import hash_password

DEMO_USER = "demo-hq"


@dataclass(frozen=True)
class DemoLogin:
    url: str
    user: str
    password: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def prepare_dashboard(store: Store, config: Config, now: datetime) -> DemoLogin:
    """Reports refreshed and a fresh HQ login."""
    refresh(store, config.reporting, now)
    password = secrets.token_urlsafe(12)
    accounts = Accounts(store, config.users, config.reporting.scope)
    accounts.remove(DEMO_USER)
    accounts.add(DEMO_USER, hash_password(password), {}, now)
    return DemoLogin(f"{str(config.daemon.public_url).rstrip('/')}/admin/", DEMO_USER,
                     password)
