"""Signed response tokens: what they accept, what they refuse, and when they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer

from closedloop.daemon.web.tokens import (
    LEGACY_SALT,
    SALTS,
    Purpose,
    TokenExpired,
    TokenInvalid,
    TokenSigner,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_roundtrip_gives_back_the_send_id() -> None:
    """A token made for a send reads back as that send id, and is URL-safe."""
    signer = TokenSigner("secret", timedelta(days=30))
    token = signer.make(12345)
    assert signer.read(token) == 12345
    assert all(c.isalnum() or c in "-_." for c in token)


def test_each_send_gets_its_own_token() -> None:
    """Two sends never share a token (the id is inside the signed payload)."""
    signer = TokenSigner("secret", timedelta(days=30))
    assert signer.make(1) != signer.make(2)


@pytest.mark.parametrize("position", [0, 3, -5])
def test_altered_token_is_invalid(position: int) -> None:
    """Changing a character of the payload, timestamp or signature makes it invalid.

    (Not the very last character: its low bits are base64 padding that decoding ignores.)"""
    signer = TokenSigner("secret", timedelta(days=30))
    token = list(signer.make(7))
    token[position] = "A" if token[position] != "A" else "B"
    with pytest.raises(TokenInvalid):
        signer.read("".join(token))


def test_token_with_another_send_id_swapped_in_is_invalid() -> None:
    """Grafting another send's payload onto a signature does not verify."""
    signer = TokenSigner("secret", timedelta(days=30))
    mine, theirs = signer.make(1).split("."), signer.make(2).split(".")
    forged = ".".join([theirs[0], mine[1], mine[2]])
    with pytest.raises(TokenInvalid):
        signer.read(forged)


def test_token_from_another_secret_is_invalid() -> None:
    """A token signed with another deployment's secret is refused."""
    other = TokenSigner("other secret", timedelta(days=30)).make(1)
    with pytest.raises(TokenInvalid):
        TokenSigner("secret", timedelta(days=30)).read(other)


@pytest.mark.parametrize(("made", "read"), [
    (made, read) for made in Purpose for read in Purpose if made != read
])
def test_token_for_another_purpose_is_invalid(made: Purpose, read: Purpose) -> None:
    """Each purpose has its own salt: a token made for one does not read for another."""
    signer = TokenSigner("secret", timedelta(days=30))
    token = signer.make(1, purpose=made)
    assert signer.read(token, purpose=made) == 1
    with pytest.raises(TokenInvalid):
        signer.read(token, purpose=read)


def test_every_purpose_has_its_own_salt() -> None:
    """No two purposes share a salt, and none reuses the salt of the links made before."""
    salts = [SALTS[purpose] for purpose in Purpose]
    assert len(salts) == len(set(salts))
    assert LEGACY_SALT not in salts


@pytest.mark.parametrize("purpose", list(Purpose))
def test_token_from_before_the_split_reads_for_every_purpose(purpose: Purpose) -> None:
    """A mail sent before the split carries one token (LEGACY_SALT) in its answer and
    unsubscribe links alike: both keep working, with the same age limit."""
    serializer = URLSafeTimedSerializer("secret", salt=LEGACY_SALT)
    with time_machine.travel(START, tick=False) as traveller:
        legacy = serializer.dumps(7)
        signer = TokenSigner("secret", timedelta(days=30))
        assert signer.read(legacy, purpose=purpose) == 7
        traveller.shift(timedelta(days=30, seconds=1))
        with pytest.raises(TokenExpired) as caught:
            signer.read(legacy, purpose=purpose)
    assert caught.value.send_id == 7


@pytest.mark.parametrize("garbage", ["", "x", "...", "a.b.c", "%00", "é.é.é", "MQ" * 500])
def test_garbage_is_invalid_not_a_crash(garbage: str) -> None:
    """Anything that is not a token raises TokenInvalid and nothing else."""
    with pytest.raises(TokenInvalid):
        TokenSigner("secret", timedelta(days=30)).read(garbage)


@pytest.mark.parametrize("junk", ["\ufffd", "\x80", "ÿ", "=", " ", "%FF"])
def test_genuine_token_with_junk_added_is_invalid(junk: str) -> None:
    """itsdangerous alone skips non-ASCII characters and padding: a token with anything added
    (a `%FF` decoded into the link) is refused, at its end or in its middle."""
    signer = TokenSigner("secret", timedelta(days=30))
    token = signer.make(1)
    for altered in (token + junk, token[:4] + junk + token[4:]):
        with pytest.raises(TokenInvalid):
            signer.read(altered)


def test_old_secret_still_reads_after_rotation() -> None:
    """Mails signed before a secret rotation keep working when the old secret is listed."""
    before = TokenSigner("old", timedelta(days=30)).make(9)
    rotated = TokenSigner("new", timedelta(days=30), old_secrets=("old",))
    assert rotated.read(before) == 9
    assert TokenSigner("new", timedelta(days=30)).read(rotated.make(9)) == 9


def test_token_expires_after_max_age() -> None:
    """A token reads until max_age has passed, then raises TokenExpired with its send id."""
    signer = TokenSigner("secret", timedelta(days=30))
    with time_machine.travel(START, tick=False) as traveller:
        token = signer.make(42)
        traveller.shift(timedelta(days=30))
        assert signer.read(token) == 42
        traveller.shift(timedelta(seconds=1))
        with pytest.raises(TokenExpired) as caught:
            signer.read(token)
    assert caught.value.send_id == 42


def test_injected_clock_drives_expiry() -> None:
    """With an injected clock, expiry follows that clock rather than the system time."""
    now = [START]
    signer = TokenSigner("secret", timedelta(hours=1), clock=lambda: now[0])
    token = signer.make(3)
    now[0] = START + timedelta(minutes=59)
    assert signer.read(token) == 3
    now[0] = START + timedelta(hours=2)
    with pytest.raises(TokenExpired):
        signer.read(token)


def test_altered_expired_token_is_invalid_not_expired() -> None:
    """The signature is checked before the age: an altered old token is invalid (400)."""
    signer = TokenSigner("secret", timedelta(days=1))
    with time_machine.travel(START, tick=False) as traveller:
        token = signer.make(5)
        traveller.shift(timedelta(days=3))
        with pytest.raises(TokenInvalid):
            signer.read(token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:])


def test_empty_secret_is_refused() -> None:
    """An empty secret would make every token forgeable."""
    with pytest.raises(ValueError, match="secret"):
        TokenSigner("", timedelta(days=1))


@pytest.mark.parametrize("payload", ["42", 4.2, True, None, [42]])
def test_a_genuine_signature_over_anything_but_a_send_id_is_invalid(payload: object) -> None:
    """A token signed with our key and salt whose payload is not an int (a string, a float,
    a bool...) is refused by the quick read as by itsdangerous's."""
    serializer = URLSafeTimedSerializer("secret", salt=SALTS[Purpose.ANSWER])
    token = serializer.dumps(payload)
    with pytest.raises(TokenInvalid):
        TokenSigner("secret", timedelta(days=1)).read(token)


def test_a_token_signed_in_the_future_is_refused() -> None:
    """A token dated after now (a clock moved back) reads as expired, as itsdangerous says:
    only an age from 0 to max_age is valid; the same token reads once its time comes."""
    with time_machine.travel(START, tick=False) as traveller:
        token = TokenSigner("secret", timedelta(days=1)).make(7)
        traveller.shift(timedelta(seconds=-1))
        with pytest.raises(TokenExpired):
            TokenSigner("secret", timedelta(days=1)).read(token)
        traveller.shift(timedelta(seconds=1))
        assert TokenSigner("secret", timedelta(days=1)).read(token) == 7
