"""Signed, expiring tokens that stand for one send in the links of a survey mail.

The token is the only credential a customer has: it authorises the score and comment POSTs,
so there is no session and no CSRF cookie. It carries the send id and the signing time,
signed with HMAC (itsdangerous); nothing in it is secret, everything in it is tamper-proof.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from closedloop.integration.errors import ClosedLoopError

DEFAULT_SALT = "closedloop.response"


class TokenError(ClosedLoopError):
    """A link's token cannot be used; nothing may be recorded for it."""


class TokenInvalid(TokenError):
    """Forged, altered, truncated or garbage: the link was never ours (answer 400)."""


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
    already sent: tokens are made with `secret` and accepted with any of them. `salt` keeps
    tokens for one purpose (answering) from being replayed for another (unsubscribing).
    """

    def __init__(
        self,
        secret: str,
        max_age: timedelta,
        *,
        salt: str = DEFAULT_SALT,
        old_secrets: tuple[str, ...] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        self.max_age = max_age
        self._keys = [*old_secrets, secret]  # itsdangerous signs with the last key
        self._salt = salt
        self._serializer = self._serializer_at(clock)

    def _serializer_at(self, clock: Callable[[], datetime] | None) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._keys, salt=self._salt, signer=_ClockSigner,
                                      signer_kwargs={"clock": clock})

    def make(self, send_id: int, issued_at: datetime | None = None) -> str:
        """A URL-safe token for one send (about 30 characters).

        `issued_at` dates the token (default: now). A reminder's links are dated like its
        survey's, so they are the same token and expire with it.
        """
        if isinstance(send_id, bool) or not isinstance(send_id, int):
            raise TypeError("send_id must be an int")
        if issued_at is None:
            return self._serializer.dumps(send_id)
        return self._serializer_at(lambda: issued_at).dumps(send_id)

    def read(self, token: str) -> int:
        """The send id in a token; raises TokenInvalid or TokenExpired, never anything else."""
        max_age = int(self.max_age.total_seconds())
        try:
            payload = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise TokenExpired(self._expired_send_id(token)) from exc
        except (BadSignature, UnicodeError, ValueError, TypeError) as exc:
            raise TokenInvalid("token invalid") from exc
        if isinstance(payload, bool) or not isinstance(payload, int):
            raise TokenInvalid("token payload is not a send id")
        return payload

    def _expired_send_id(self, token: str) -> int | None:
        # loads() has just checked the signature; read the payload again without the age limit.
        _, payload = self._serializer.loads_unsafe(token)
        if isinstance(payload, int) and not isinstance(payload, bool):
            return payload
        return None
