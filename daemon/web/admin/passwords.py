"""Password hashes (argon2id, argon2-cffi's defaults) and a check that takes the same time
whether or not the user exists, so the sign-in form does not reveal which names exist."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a megabyte "password" cheap to refuse


class WeakPassword(ValueError):
    pass


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("closedloop-dummy-password-never-matches")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (unknown user) a dummy hash is checked, so
    the answer takes as long as for a real user."""
    candidate = password[:MAX_LENGTH]
    try:
        ok = _hasher().verify(stored_hash or _dummy_hash(), candidate)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None
