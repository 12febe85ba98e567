"""Dashboard users, sessions and failed sign-ins in the store (tables admin_*).

Users come from two places: `[[users]]` in the config (read-only here) and the store
(`closedloop users add`). A name in the config wins, and `users add` refuses it, so one name
never means two people. Everything here is a function of (store, ..., now): no clock inside.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from closedloop.daemon.store import Store
from closedloop.daemon.store.records import from_db, to_db
from closedloop.daemon.store.tables import Base
from closedloop.daemon.web.admin.settings import UserSettings, normalize_scope
from closedloop.integration.errors import ClosedLoopError

USERS: Table = Base.metadata.tables["admin_users"]
SESSIONS: Table = Base.metadata.tables["admin_sessions"]
FAILURES: Table = Base.metadata.tables["admin_login_failures"]


class UserExists(ClosedLoopError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    scope: dict[str, list[str]]  # {} = headquarters
    origin: str  # "config" or "store"


@dataclass(frozen=True)
class SessionRow:
    user_name: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


def session_key(session_id: str) -> str:
    """What the store keeps of a session id: its SHA-256, so a read of the table is not a
    set of live cookies."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class Accounts:
    """The users the dashboard knows (config first, then the store) and their sessions."""

    def __init__(self, store: Store, config_users: Iterable[UserSettings] = (),
                 levels: tuple[str, ...] = ()) -> None:
        self.store = store
        self.levels = levels
        self.config_users = {
            u.name: User(u.name, u.password_hash, normalize_scope(u.scope, levels), "config")
            for u in config_users}

    # -- users ---------------------------------------------------------------------------

    def get(self, name: str) -> User | None:
        if name in self.config_users:
            return self.config_users[name]
        with self.store.engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
        if row is None:
            return None
        return User(row.name, row.password_hash, dict(row.scope or {}), "store")

    def all(self) -> list[User]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(USERS).order_by(USERS.c.name)).all()
        stored = [User(r.name, r.password_hash, dict(r.scope or {}), "store") for r in rows
                  if r.name not in self.config_users]
        return sorted([*self.config_users.values(), *stored], key=lambda u: u.name)

    def add(self, name: str, password_hash: str, scope: dict[str, list[str]],
            now: datetime) -> None:
        if name in self.config_users:
            raise UserExists(f"user {name!r} is defined in the config ([[users]]); change it "
                             "there")
        try:
            with self.store.engine.begin() as conn:
                conn.execute(USERS.insert().values(name=name, password_hash=password_hash,
                                                   scope=scope, created_at=to_db(now)))
        except IntegrityError:
            raise UserExists(f"user {name!r} exists; remove it first (`closedloop users "
                             f"remove {name}`)") from None

    def remove(self, name: str) -> bool:
        """Delete a stored user and every session of theirs; False if there was none."""
        with self.store.engine.begin() as conn:
            gone = conn.execute(delete(USERS).where(USERS.c.name == name)).rowcount
            conn.execute(delete(SESSIONS).where(SESSIONS.c.user_name == name))
        return bool(gone)

    # -- sessions ------------------------------------------------------------------------

    def open_session(self, session_id: str, user: str, csrf_token: str, now: datetime) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(SESSIONS.insert().values(
                id_hash=session_key(session_id), user_name=user, csrf_token=csrf_token,
                created_at=to_db(now), last_seen_at=to_db(now)))

    def session(self, session_id: str) -> SessionRow | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(SESSIONS).where(
                SESSIONS.c.id_hash == session_key(session_id))).first()
        if row is None:
            return None
        return SessionRow(row.user_name, row.csrf_token, from_db(row.created_at),
                          from_db(row.last_seen_at))

    def touch(self, session_id: str, now: datetime) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.id_hash == session_key(session_id))
                         .values(last_seen_at=to_db(now)))

    def close_session(self, session_id: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.id_hash == session_key(session_id)))

    def prune_sessions(self, idle_before: datetime, created_before: datetime) -> int:
        with self.store.engine.begin() as conn:
            return int(conn.execute(delete(SESSIONS).where(
                (SESSIONS.c.last_seen_at <= to_db(idle_before))
                | (SESSIONS.c.created_at <= to_db(created_before)))).rowcount)

    # -- failed sign-ins -----------------------------------------------------------------

    def note_failure(self, keys: Iterable[str], now: datetime) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(FAILURES.insert(), [{"key": k[:160], "failed_at": to_db(now)}
                                             for k in keys])

    def failures(self, key: str, since: datetime) -> list[datetime]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(FAILURES.c.failed_at).where(
                FAILURES.c.key == key[:160], FAILURES.c.failed_at >= to_db(since))
                .order_by(FAILURES.c.failed_at)).scalars().all()
        return [from_db(r) for r in rows]

    def clear_failures(self, key: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(FAILURES).where(FAILURES.c.key == key[:160]))

    def prune_failures(self, before: datetime) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(FAILURES).where(FAILURES.c.failed_at < to_db(before)))
