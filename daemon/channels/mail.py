"""The mail channel: today's daemon/delivery (compose, SMTP session) behind the Channel protocol.

Nothing of delivery/ moves: this wraps one batch's SMTP session and the composer and turns
the SMTP outcomes into the channel outcomes dispatch acts on. The relay's own moments map
one to one: `handed_over` is the callback the session calls right before the final dot
(store.end_of_data), a cut after it is OutcomeUnknown, a 4xx or a cut before it is NotTaken
with a first retry delay (dispatch doubles it per attempt), a 5xx is NotTaken for good (and
a hard bounce suppresses the address here, as before), a refused login or an unreachable
relay is ChannelDown (the batch is handed back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from closedloop.daemon.channels import ChannelDown, HandOver, NotTaken, OutcomeUnknown
from closedloop.daemon.delivery.bounces import suppress_hard_bounce
from closedloop.daemon.delivery.smtp import (
    MailAbandoned,
    MailAuthError,
    MailConnectionLost,
    MailError,
    MailOutcomeUnknown,
    MailPermanentError,
    MailTemporaryError,
    MailUnavailable,
)
from closedloop.daemon.store import SendRecord, Store
from closedloop.daemon.surveys import Program

MAIL_RETRY = timedelta(minutes=5)  # the relay did not take it (4xx): first wait
CUT_RETRY = timedelta(seconds=30)  # cut before the end of data: a blip, a shorter ladder


class MailSession(Protocol):
    def open(self) -> None: ...

    def send(self, msg: EmailMessage,
             before_end_of_data: Callable[[], bool] | None = None) -> None: ...


class Composer(Protocol):
    """Builds a row's mail; `now` is the time the send will be recorded at (dates the token)."""

    def __call__(self, row: SendRecord, program: Program, now: datetime) -> EmailMessage: ...


class MailChannel:
    """One batch's mail: the `Channel` protocol over an open-on-demand SMTP session."""

    name = "email"

    def __init__(self, store: Store, session: MailSession, compose: Composer) -> None:
        self.store = store
        self.session = session
        self._compose = compose

    def compose(self, row: SendRecord, program: Program, now: datetime) -> EmailMessage:
        return self._compose(row, program, now)

    def ready(self) -> None:
        """Connect (once per batch) before a row is touched: a relay that is down hands the
        batch back with every row as it was."""
        try:
            self.session.open()
        except (MailAuthError, MailUnavailable) as exc:
            raise ChannelDown(str(exc)) from exc

    def send(self, row: SendRecord, message: EmailMessage, handed_over: HandOver,
             now: datetime) -> str | None:
        message_id = str(message["Message-ID"])
        try:
            self.session.send(message, lambda: handed_over(message_id))
        except (MailAuthError, MailUnavailable) as exc:
            raise ChannelDown(str(exc)) from exc
        except MailAbandoned:
            return None  # the lease was lost before the end of data: nothing left
        except MailOutcomeUnknown as exc:
            raise OutcomeUnknown(str(exc)) from exc
        except MailTemporaryError as exc:
            first = CUT_RETRY if isinstance(exc, MailConnectionLost) else MAIL_RETRY
            raise NotTaken(str(exc), retry_after=first) from exc
        except MailError as exc:
            bounced = (isinstance(exc, MailPermanentError) and row.email is not None
                       and suppress_hard_bounce(self.store, row.email, exc, now))
            raise NotTaken(str(exc), hard_bounce=bounced) from exc
        return message_id
