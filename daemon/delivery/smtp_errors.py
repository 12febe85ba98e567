"""What an SMTP failure means for the caller, as exception types (daemon/delivery/smtp.py says
which step raises which; the dispatcher acts on the type, see channels/mail.py)."""

from __future__ import annotations

import re

from closedloop.daemon.delivery.wire import CRLF
from closedloop.integration.errors import ClosedLoopError


class MailError(ClosedLoopError):
    """Sending one message failed."""


class MailTemporaryError(MailError):
    """The relay did not take the message; try again later."""


class MailUnavailable(MailTemporaryError):
    """The relay cannot be reached or dropped us before taking the message: every mail in the
    batch would fail the same way, so the dispatcher stops and tries the batch later."""


class MailAuthError(MailTemporaryError):
    """The relay refused our login or TLS set-up; every mail will fail until config changes."""


class MailConnectionLost(MailTemporaryError):
    """The connection broke before the end-of-data was sent: the relay holds nothing of this
    mail, so it is sent again later (the next mail opens a new connection)."""


class MailAbandoned(MailError):
    """`before_end_of_data` said no (the row was taken from us): the connection was dropped
    without the end-of-data, so the relay discards the message."""


class MailOutcomeUnknown(MailError):
    """The connection broke after the end-of-data was sent and before the relay's reply: it
    may have the message. Never sent again; the rules count it as sent."""


class MailPermanentError(MailError):
    """The relay refused the message for good (5xx); do not retry it.

    `stage` is the SMTP step that was refused: "mail" (our sender), "rcpt" (the recipient),
    "data" (the message) or "local" (refused before talking to the relay). `enhanced` is the
    RFC 3463 status code from the reply ("5.1.1"), or None. The reply text itself is kept out
    of the message: relays quote the recipient's address in it, and this text gets logged.
    """

    def __init__(self, message: str, code: int, *, stage: str = "local",
                 enhanced: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.stage = stage
        self.enhanced = enhanced


_ENHANCED = re.compile(rb"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
END_OF_DATA = b"." + CRLF


def enhanced_code(reply: bytes | str) -> str | None:
    """The RFC 3463 status code that starts an SMTP reply text, e.g. "5.1.1"."""
    raw = reply.encode("ascii", "replace") if isinstance(reply, str) else reply
    match = _ENHANCED.match(raw)
    return match.group(1).decode() if match else None


def by_code(code: int, what: str, stage: str, reply: bytes | str = b"") -> MailError:
    enhanced = enhanced_code(reply)
    text = f"{what}: {code}" + (f" {enhanced}" if enhanced else "")
    if 400 <= code < 500:
        return MailTemporaryError(text)
    return MailPermanentError(text, code, stage=stage, enhanced=enhanced)
