"""Signed, expiring tokens that stand for one send in the links of a survey mail.

The token is the only credential a customer has: it authorises the score and comment POSTs,
so there is no session and no CSRF cookie. It carries the send id and the signing time,
signed with HMAC (itsdangerous); nothing in it is secret, everything in it is tamper-proof.

Each purpose signs with its own salt, so a token works only where it was meant to: the
unsubscribe link (also the List-Unsubscribe header, which mail providers see, log and POST to)
cannot record an answer, and an answer link cannot unsubscribe. Two purposes exist:
`answer` (the score links of a survey and of its reminder, then the comment and thank-you
pages of the same flow) and `unsubscribe` (the link in the mail and the List-Unsubscribe
header: RFC 8058 wants one URL that shows the page on GET and unsubscribes on a one-click POST).

Mails sent before the split carry one token, signed with `LEGACY_SALT`, in both their answer
and their unsubscribe links; it is still read for both purposes so those links keep working
(answer links until they expire, unsubscribe links for good). Nothing signs with it any more.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes

from closedloop.integration.errors import ClosedLoopError


class Purpose(StrEnum):
    """What a token may be used for; each signs with its own salt."""

    ANSWER = "answer"
    UNSUBSCRIBE = "unsubscribe"


SALTS: dict[Purpose, str] = {
    Purpose.ANSWER: "closedloop.answer",
    Purpose.UNSUBSCRIBE: "closedloop.unsubscribe",
}
LEGACY_SALT = "closedloop.response"  # one salt for every link, before the split (read only)
# What make() writes: URL-safe base64 and dots (a leading dot: itsdangerous's compressed
# payload, for ids whose JSON compresses). itsdangerous alone skips non-ASCII characters
# (a `%FF` in the link), so a genuine token with junk in it would still read.
_TOKEN = re.compile(r"\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenError(ClosedLoopError):
    """A link's token cannot be used; nothing may be recorded for it."""


class TokenInvalid(TokenError):
    """Forged, altered, truncated, garbage or made for another purpose: answer 400."""


class TokenExpired(TokenError):
    """Genuine but older than the survey's lifetime (answer 410).

    `send_id` is trustworthy (the signature checked out), so the page can still be shown
    in the customer's language.
    """

    def __init__(self, send_id: int | None) -> None:
        super().__init__("token expired")
        self.send_id = send_id


class _ClockSigner(TimestampSigner):
    """A TimestampSigner whose "now" comes from an injected clock (for frozen-time tests)."""

    def __init__(self, *args: Any, clock: Callable[[], datetime] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._clock = clock

    def get_timestamp(self) -> int:
        if self._clock is None:
            return int(time.time())
        return int(self._clock().timestamp())


class TokenSigner:
    """Makes and reads the tokens of one deployment.

    `old_secrets` lets a deployment rotate its secret without breaking the links of mails
    already sent: tokens are made with `secret` and accepted with any of them. The purpose
    (its salt) keeps a token for one use from being replayed for another.
    """

    def __init__(
        self,
        secret: str,
        max_age: timedelta,
        *,
        old_secrets: tuple[str, ...] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        self.max_age = max_age
        self._keys = [*old_secrets, secret]  # itsdangerous signs with the last key
        self._clock = clock
        self._serializers: dict[str, URLSafeTimedSerializer] = {}
        self._derived: dict[str, list[bytes]] = {}  # per salt: each key derived, newest first

    def _serializer(self, salt: str, clock: Callable[[], datetime] | None = None,
                    ) -> URLSafeTimedSerializer:
        """One serializer per salt on our clock (made once: every page reads a token)."""
        if clock is not None:
            return self._make_serializer(salt, clock)
        serializer = self._serializers.get(salt)
        if serializer is None:
            serializer = self._serializers[salt] = self._make_serializer(salt, self._clock)
        return serializer

    def _make_serializer(self, salt: str, clock: Callable[[], datetime] | None,
                         ) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._keys, salt=salt, signer=_ClockSigner,
                                      signer_kwargs={"clock": clock})

    def make(self, send_id: int, issued_at: datetime | None = None, *,
             purpose: Purpose = Purpose.ANSWER) -> str:
        """A URL-safe token for one send and one purpose (about 30 characters).

        `issued_at` dates the token (default: now). A reminder's links are dated like its
        survey's, so they are the same token and expire with it.
        """
        if isinstance(send_id, bool) or not isinstance(send_id, int):
            raise TypeError("send_id must be an int")
        # itsdangerous's dumps, step by step with its own encoders (tests compare them): it
        # made a serializer and a signer and derived the key for every token, ~50 µs, and
        # every mail carries two tokens.
        salt = SALTS[purpose]
        if issued_at is not None:
            signed_at = int(issued_at.timestamp())
        elif self._clock is None:
            signed_at = int(time.time())
        else:
            signed_at = int(self._clock().timestamp())
        digits = str(send_id).encode("ascii")  # its compact JSON of an int
        # It tries zlib on the JSON; a deflate stream is at least 8 bytes, so one of fewer
        # than 10 digits is never the shorter (and zlib was a third of the work).
        payload = (base64_encode(digits) if len(digits) < 10
                   else self._serializer(salt).dump_payload(send_id))
        value = payload + b"." + base64_encode(int_to_bytes(signed_at))
        signature = hmac.digest(self._derived_keys(salt)[0], value, "sha1")
        return (value + b"." + base64_encode(signature)).decode("ascii")

    def read(self, token: str, *, purpose: Purpose = Purpose.ANSWER) -> int:
        """The send id in a token made for `purpose` (or before the split, `LEGACY_SALT`);
        raises TokenInvalid or TokenExpired, never anything else."""
        if not isinstance(token, str) or len(token) > 200 or not _TOKEN.fullmatch(token):
            raise TokenInvalid("token malformed")
        max_age = int(self.max_age.total_seconds())
        send_id = self._read_valid(token, SALTS[purpose], max_age)
        if send_id is not None:
            return send_id
        for salt in (SALTS[purpose], LEGACY_SALT):
            serializer = self._serializer(salt)
            try:
                payload = serializer.loads(token, max_age=max_age)
            except SignatureExpired as exc:
                raise TokenExpired(_expired_send_id(serializer, token)) from exc
            except (BadSignature, UnicodeError, ValueError, TypeError):
                continue
            if isinstance(payload, bool) or not isinstance(payload, int):
                raise TokenInvalid("token payload is not a send id")
            return payload
        raise TokenInvalid("token invalid")


    def _derived_keys(self, salt: str) -> list[bytes]:
        """Each key as itsdangerous derives it for `salt`, the signing one (newest) first."""
        keys = self._derived.get(salt)
        if keys is None:
            signer = self._serializer(salt).make_signer(salt)
            keys = self._derived[salt] = [signer.derive_key(k) for k in reversed(self._keys)]
        return keys

    def _read_valid(self, token: str, salt: str, max_age: int) -> int | None:
        """The send id of a well-formed token, signed for `salt` with one of our keys and
        within its age; None for anything else (then itsdangerous decides, and words the
        error). Every page reads a token: itsdangerous's own path makes a signer, derives its
        key and runs ~120 calls per read, a tenth of the score page."""
        if token.startswith("."):
            return None  # a compressed payload: itsdangerous's own path reads it
        keys = self._derived_keys(salt)
        payload, stamp, signature = token.split(".")
        try:
            sig = _b64decode(signature)
            value = f"{payload}.{stamp}".encode("ascii")
            if not any(hmac.compare_digest(hmac.digest(key, value, "sha1"), sig)
                       for key in keys):
                return None
            signed_at = int.from_bytes(_b64decode(stamp), "big")
            send_id = json.loads(_b64decode(payload))
        except ValueError:  # binascii.Error, UnicodeError and JSONDecodeError among them
            return None
        now = int(time.time()) if self._clock is None else int(self._clock().timestamp())
        age = now - signed_at  # as _ClockSigner counts it
        if type(send_id) is not int or not 0 <= age <= max_age:
            return None
        return send_id


def _b64decode(text: str) -> bytes:
    """itsdangerous's URL-safe base64 without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _expired_send_id(serializer: URLSafeTimedSerializer, token: str) -> int | None:
    # loads() has just checked the signature; read the payload again without the age limit.
    _, payload = serializer.loads_unsafe(token)
    if isinstance(payload, int) and not isinstance(payload, bool):
        return payload
    return None
