"""Sign-in pieces on a real store (SQLite and PostgreSQL): argon2 hashes, the lock-out on
both sides of each edge (N-1 vs N failures, the window, the lock's end), per-address locks,
session lifetimes, revocation on user removal, and scope parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts, SessionRow, UserExists
from closedloop.daemon.web.admin.auth import (
    AuthPolicy,
    Outcome,
    SignIn,
    locked_until,
    session_alive,
)
from closedloop.daemon.web.admin.params import read_view
from closedloop.daemon.web.admin.passwords import WeakPassword, hash_password, verify_password
from closedloop.daemon.web.admin.settings import (
    ScopeError,
    UserSettings,
    normalize_scope,
    parse_scope_text,
)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
LEVELS = ("region", "store")
POLICY = AuthPolicy(lock_after=5, ip_lock_after=8, window=timedelta(minutes=15),
                    lock_for=timedelta(minutes=15))


@pytest.fixture
def accounts(store: Store) -> Accounts:
    users = [UserSettings(name="ana", password_hash=hash_password(PASSWORD),
                          scope={"store": "oslo"})]
    return Accounts(store, users, LEVELS)


def fail(sign_in: SignIn, times: int, start: datetime, name: str = "ana",
         client: str = "10.0.0.1", step: timedelta = timedelta(seconds=10)) -> datetime:
    """`times` wrong passwords, `step` apart; returns the time of the last."""
    at = start
    for i in range(times):
        at = start + step * i
        assert sign_in.attempt(name, "wrong password!", client, at).outcome is Outcome.FAILED
    return at


def test_hash_verifies_only_its_password() -> None:
    """The right password verifies; a wrong one, or any against no hash (unknown user), not."""
    digest = hash_password(PASSWORD)
    assert digest.startswith("$argon2id$")
    assert (verify_password(digest, PASSWORD), verify_password(digest, PASSWORD + "x"),
            verify_password(None, PASSWORD), verify_password("garbage", PASSWORD)) == (
        True, False, False, False)


def test_password_length_edges() -> None:
    """Ten characters are enough, nine are not."""
    assert verify_password(hash_password("a" * 10), "a" * 10) is True
    with pytest.raises(WeakPassword):
        hash_password("a" * 9)


def test_four_failures_then_the_right_password_signs_in(accounts: Accounts) -> None:
    """N-1 failures: not locked; success clears the name's count, so 4 more (from another
    address: the address's own count is not cleared) do not lock either."""
    sign_in = SignIn(accounts, POLICY)
    last = fail(sign_in, 4, T0)
    assert sign_in.attempt("ana", PASSWORD, "10.0.0.1", last).outcome is Outcome.OK
    last = fail(sign_in, 4, last + timedelta(seconds=1), client="10.0.0.5")
    assert sign_in.attempt("ana", PASSWORD, "10.0.0.5", last).outcome is Outcome.OK


def test_five_failures_lock_even_the_right_password_until_the_lock_ends(
        accounts: Accounts) -> None:
    """N failures: locked (right password refused) until 15 minutes after the 5th, to the
    second: one second before the end locked, at the end open."""
    sign_in = SignIn(accounts, POLICY)
    last = fail(sign_in, 5, T0)
    end = last + POLICY.lock_for
    assert sign_in.attempt("ana", PASSWORD, "10.0.0.2", last).outcome is Outcome.LOCKED
    assert (sign_in.attempt("ana", PASSWORD, "10.0.0.2", end - timedelta(seconds=1)).outcome
            is Outcome.LOCKED)
    assert sign_in.attempt("ana", PASSWORD, "10.0.0.2", end).outcome is Outcome.OK


def test_an_unknown_name_locks_like_a_real_one(accounts: Accounts) -> None:
    """Names that do not exist fail and lock exactly as real ones, so answers do not tell
    which names exist."""
    sign_in = SignIn(accounts, POLICY)
    last = fail(sign_in, 5, T0, name="nobody")
    assert sign_in.attempt("nobody", PASSWORD, "10.0.0.3", last).outcome is Outcome.LOCKED


def test_the_window_edge() -> None:
    """Five failures spanning just under the window lock; spanning exactly the window not."""
    window, lock = timedelta(minutes=15), timedelta(minutes=15)
    inside = [T0 + timedelta(minutes=m) for m in (0, 1, 2, 3)] + [T0 + window
                                                                 - timedelta(seconds=1)]
    outside = [*inside[:4], T0 + window]
    assert locked_until(inside, 5, window, lock) == inside[-1] + lock
    assert locked_until(outside, 5, window, lock) is None
    assert locked_until(inside[:4], 5, window, lock) is None


def test_one_address_failing_on_many_names_is_locked(accounts: Accounts) -> None:
    """ip_lock_after failures from one address over different names lock that address, for
    a real user too; another address is not affected."""
    sign_in = SignIn(accounts, POLICY)
    at = T0
    for i in range(POLICY.ip_lock_after):
        at = T0 + timedelta(seconds=i)
        sign_in.attempt(f"guess{i}", "wrong password!", "10.9.9.9", at)
    assert sign_in.attempt("ana", PASSWORD, "10.9.9.9", at).outcome is Outcome.LOCKED
    assert sign_in.attempt("ana", PASSWORD, "10.0.0.4", at).outcome is Outcome.OK


@pytest.mark.parametrize(("seen", "created", "alive"), [
    (timedelta(minutes=30) - timedelta(seconds=1), timedelta(hours=1), True),
    (timedelta(minutes=30), timedelta(hours=1), False),
    (timedelta(0), timedelta(hours=12) - timedelta(seconds=1), True),
    (timedelta(0), timedelta(hours=12), False),
])
def test_session_idle_and_absolute_edges(seen: timedelta, created: timedelta,
                                         alive: bool) -> None:
    """Idle 30 min and absolute 12 h: one second before each edge alive, at the edge over."""
    row = SessionRow("ana", "t", created_at=T0 - created, last_seen_at=T0 - seen)
    assert session_alive(row, T0, AuthPolicy()) is alive


def test_removing_a_user_ends_their_sessions(accounts: Accounts) -> None:
    """`users remove` deletes the user's session rows: the cookie no longer finds one."""
    accounts.add("bob", hash_password(PASSWORD), {"region": ["north"]}, T0)
    accounts.open_session("sid-bob", "bob", "csrf", T0)
    accounts.open_session("sid-ana", "ana", "csrf", T0)
    assert accounts.session("sid-bob") is not None
    assert accounts.remove("bob") is True
    assert (accounts.session("sid-bob"), accounts.get("bob")) == (None, None)
    assert accounts.session("sid-ana") is not None
    assert accounts.remove("bob") is False


def test_names_are_unique_across_config_and_store(accounts: Accounts) -> None:
    """A config user's name cannot be added to the store; a stored name not twice."""
    with pytest.raises(UserExists, match="defined in the config"):
        accounts.add("ana", hash_password(PASSWORD), {}, T0)
    accounts.add("bob", hash_password(PASSWORD), {}, T0)
    with pytest.raises(UserExists, match="exists"):
        accounts.add("bob", hash_password(PASSWORD), {}, T0)
    assert [(u.name, u.scope, u.origin) for u in accounts.all()] == [
        ("ana", {"store": ["oslo"]}, "config"), ("bob", {}, "store")]


def test_scope_parsing() -> None:
    """{} is headquarters; one known level with values; the CLI form LEVEL=V1,V2."""
    assert normalize_scope({}, LEVELS) == {}
    assert normalize_scope({"store": "oslo"}, LEVELS) == {"store": ["oslo"]}
    assert normalize_scope({"store": ["oslo", "bergen"]}, LEVELS) == {
        "store": ["bergen", "oslo"]}
    assert parse_scope_text("hq", LEVELS) == {}
    assert parse_scope_text("region=north,south", LEVELS) == {"region": ["north", "south"]}


@pytest.mark.parametrize(("raw", "levels", "message"), [
    ({"country": "no"}, LEVELS, "unknown scope level 'country'; expected one of: region, store"),
    ({"region": "north", "store": "oslo"}, LEVELS, "a scope names one level, got 2"),
    ({"store": []}, LEVELS, "scope store: expected a value or a list"),
    ({"store": "oslo"}, (), "no scope levels are configured"),
])
def test_bad_scopes_are_refused(raw: dict[str, object], levels: tuple[str, ...],
                                message: str) -> None:
    """Each malformed scope is a ScopeError saying what is expected."""
    with pytest.raises(ScopeError, match=message):
        normalize_scope(raw, levels)


def test_bad_scope_text() -> None:
    with pytest.raises(ScopeError, match="expected LEVEL=VALUE"):
        parse_scope_text("oslo", LEVELS)


@pytest.mark.parametrize(("period", "since", "until", "expected"), [
    ("week", "2026-11-18", "2026-11-20", ("2026-11-16", "2026-11-22")),
    ("week", "2026-11-16", "2026-11-22", ("2026-11-16", "2026-11-22")),
    ("month", "2026-10-31", "2026-11-01", ("2026-10-01", "2026-11-30")),
    ("quarter", "2026-09-30", "2026-10-01", ("2026-07-01", "2026-12-31")),
    ("day", "2026-11-18", "2026-11-20", ("2026-11-18", "2026-11-20")),
])
def test_a_range_is_widened_to_whole_periods(period: str, since: str, until: str,
                                             expected: tuple[str, str]) -> None:
    """A week view from a Wednesday starts on Monday and ends on Sunday; a range already on
    the edges is kept; months and quarters likewise; days are never widened."""
    view = read_view({"period": [period], "since": [since], "until": [until]},
                     ReportingSettings(), date(2026, 11, 20))
    assert (view.since.isoformat(), view.until.isoformat()) == expected
