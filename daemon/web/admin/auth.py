"""Signing in: the lock-out after repeated failures, session lifetimes, and the signed
cookies (session id, and the sign-in form's CSRF nonce).

Lock-out: `lock_after` failures for one user name within `window` lock that name for
`lock_for` from the last of them; `ip_lock_after` failures from one client address lock the
address the same way. While locked even the right password is refused. Unknown names are
counted and locked like real ones, and the password is always checked against a hash (a
dummy one for an unknown name), so neither the answer nor its timing says which names exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from itsdangerous import BadSignature, Signer

from closedloop.daemon.logging import get_logger
from closedloop.daemon.web.admin.accounts import Accounts, SessionRow, User
from closedloop.daemon.web.admin.passwords import verify_password

log = get_logger(component="admin")


@dataclass(frozen=True)
class AuthPolicy:
    lock_after: int = 5
    ip_lock_after: int = 20  # an office behind one address has several people
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)
    idle: timedelta = timedelta(minutes=30)  # a session unused this long is over
    absolute: timedelta = timedelta(hours=12)  # and any session this old


def locked_until(failures: Sequence[datetime], threshold: int,
                 window: timedelta, lock_for: timedelta) -> datetime | None:
    """When the latest lock from these (sorted) failures ends: a lock starts at a failure
    that is the `threshold`-th within less than `window`. None: never locked."""
    end: datetime | None = None
    for i in range(threshold - 1, len(failures)):
        if failures[i] - failures[i - threshold + 1] < window:
            until = failures[i] + lock_for
            end = until if end is None or until > end else end
    return end


class Outcome(Enum):
    OK = "ok"
    FAILED = "failed"
    LOCKED = "locked"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    user: User | None = None


class SignIn:
    def __init__(self, accounts: Accounts, policy: AuthPolicy) -> None:
        self.accounts = accounts
        self.policy = policy

    def _locked(self, key: str, threshold: int, now: datetime) -> bool:
        p = self.policy
        failures = self.accounts.failures(key, now - p.window - p.lock_for)
        until = locked_until(failures, threshold, p.window, p.lock_for)
        return until is not None and now < until

    def attempt(self, name: str, password: str, client: str, now: datetime) -> Attempt:
        user_key, ip_key = f"user:{name}", f"ip:{client}"
        user = self.accounts.get(name) if name else None
        ok = verify_password(user.password_hash if user else None, password)
        if (self._locked(user_key, self.policy.lock_after, now)
                or self._locked(ip_key, self.policy.ip_lock_after, now)):
            log.warning("admin.login_locked", user=name, client=client)
            return Attempt(Outcome.LOCKED)
        if not ok or user is None:
            self.accounts.note_failure([user_key, ip_key], now)
            log.warning("admin.login_failed", user=name, client=client,
                        reason="unknown_user" if user is None else "wrong_password")
            return Attempt(Outcome.FAILED)
        self.accounts.clear_failures(user_key)
        p = self.policy  # keep the tables small: what can no longer lock or live goes
        self.accounts.prune_failures(now - p.window - p.lock_for)
        self.accounts.prune_sessions(now - p.idle, now - p.absolute)
        log.info("admin.login", user=name, client=client)
        return Attempt(Outcome.OK, user)


def session_alive(row: SessionRow, now: datetime, policy: AuthPolicy) -> bool:
    """Alive while unused for less than `idle` and younger than `absolute`."""
    return now < row.last_seen_at + policy.idle and now < row.created_at + policy.absolute


class CookieSigner:
    """Signs the session id and the sign-in nonce with the daemon's secret key, so a cookie
    changed by hand is told apart from one that merely expired (403 and a log line)."""

    def __init__(self, secret: str) -> None:
        self._session = Signer(secret, salt="closedloop.admin.session")
        self._login = Signer(secret, salt="closedloop.admin.login")

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    def sign_session(self, session_id: str) -> str:
        return self._session.sign(session_id).decode()

    def read_session(self, cookie: str) -> str | None:
        """The session id, or None if the cookie was not signed by us (tampered)."""
        try:
            return self._session.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def sign_login(self, nonce: str) -> str:
        return self._login.sign(nonce).decode()

    def read_login(self, cookie: str) -> str | None:
        try:
            return self._login.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
