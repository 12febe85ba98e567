"""The dashboard's part of `closedloop demo`: a region -> store hierarchy on the demo's
answers and a headquarters login with a random password, printed once at the end.

If the demo's sends carry no region or store (nothing in the sandbox holds one), they are
spread over three stores in two regions, so the dashboard's scopes have something to show.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from closedloop.daemon.config import Config
from closedloop.daemon.insight.dimensions import SENDS
from closedloop.daemon.insight.report import refresh
from closedloop.daemon.insight.rollups import rebuild
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts
from closedloop.daemon.web.admin.passwords import hash_password

DEMO_USER = "demo-hq"
STORES = (("north", "oslo"), ("north", "bergen"), ("south", "stavanger"))
# [reporting] for the demo's config: where the hierarchy is read, and its levels.
DEMO_REPORTING: dict[str, Any] = {
    "segments": {"region": "contact.region", "store": "contact.store"},
    "scope": ["region", "store"],
}


@dataclass(frozen=True)
class DemoLogin:
    url: str
    user: str
    password: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def seed_demo_segments(store: Store) -> int:
    """Give every survey without a store one of STORES (by id, so reruns agree)."""
    with store.engine.begin() as conn:
        rows = conn.execute(select(SENDS.c.id, SENDS.c.segments)
                            .where(SENDS.c.kind == "survey").order_by(SENDS.c.id)).all()
        changed = 0
        for row in rows:
            segments = dict(row.segments or {})
            if segments.get("store"):
                continue
            region, shop = STORES[row.id % len(STORES)]
            segments.update(region=region, store=shop)
            conn.execute(update(SENDS).where(SENDS.c.id == row.id).values(segments=segments))
            changed += 1
    return changed


def prepare_dashboard(store: Store, config: Config, now: datetime) -> DemoLogin:
    """Segments on the demo's answers, reports refreshed, and a fresh HQ login."""
    if seed_demo_segments(store):
        rebuild(store, config.reporting, now)  # values changed under counted answers
    else:
        refresh(store, config.reporting, now)
    password = secrets.token_urlsafe(12)
    accounts = Accounts(store, config.users, config.reporting.scope)
    accounts.remove(DEMO_USER)
    accounts.add(DEMO_USER, hash_password(password), {}, now)
    return DemoLogin(f"{str(config.daemon.public_url).rstrip('/')}/admin/", DEMO_USER,
                     password)
