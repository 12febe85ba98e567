"""How a survey reaches a person: one Channel protocol (compose, send, outcome).

A program picks its channel (`channel = "email" | "sms" | "email_then_sms"`); the choice is
made per row when it is queued (choose.py) and stored in `sends.channel`, so dispatch sends
each row through the channel it names. Mail is today's daemon/delivery (SMTP, a session per
batch) wrapped by mail.py; SMS is sms.py (Twilio's REST API through the
official `twilio` client). Whatever the channel, the outbox, the rules, the ledger and the
suppressions are the same, and so is the at-most-once rule: the row is marked as handed
over right before the provider is called, and a crash or a lost answer after that leaves
it `outcome_unknown` (counted as sent, never sent again).

A channel tells dispatch what happened with one of these outcomes (exceptions):
- `ChannelDown`: the provider cannot be reached or refuses our credentials: nothing left,
  every row would fail the same way; the batch is handed back for later.
- `None` from `send`: the row was taken from us (its lease ran out) before the hand-over.
- `NotTaken`: the provider surely does not have it; `retry_after` set: try again then.
- `OutcomeUnknown`: it may have it (the answer was lost): counted as sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from closedloop.daemon.store import SendRecord
from closedloop.daemon.surveys import Program

M = TypeVar("M")


class ChannelError(Exception):
    """What a channel's send could not do; the subclass says what dispatch does next."""


class ChannelDown(ChannelError):
    """Nothing was sent and nothing can be now (unreachable, refused credentials)."""


class NotTaken(ChannelError):
    """The provider surely does not have the message; retried after `retry_after` if set."""

    def __init__(self, message: str, retry_after: timedelta | None = None, *,
                 unsubscribed: bool = False, hard_bounce: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # the first wait; dispatch doubles it per attempt
        self.unsubscribed = unsubscribed  # the provider says the person opted out
        self.hard_bounce = hard_bounce  # the address was suppressed for a permanent refusal


class OutcomeUnknown(ChannelError):
    """The message may have left (the provider's answer was lost): counted as sent."""


class HandOver(Protocol):
    """Called right before the provider gets the message, with the message's own id when it
    is known then (a mail's Message-ID: a bounce can name the mail before its 250 is
    recorded); False: the row was taken from us, do not send."""

    def __call__(self, reference: str | None = None) -> bool: ...


class Channel(Protocol[M]):
    """One way to reach a person. `compose` raises ValueError/TypeError/LookupError for bad
    data in the row; `ready` may raise ChannelDown before any row is touched; `send` calls
    `handed_over()` right before the provider gets the message (False: the row was taken
    from us, do not send; `send` returns None) and returns the provider's message id."""

    name: str

    def compose(self, row: SendRecord, program: Program, now: datetime) -> M: ...

    def ready(self) -> None: ...

    def send(self, row: SendRecord, message: M, handed_over: HandOver,
             now: datetime) -> str | None: ...
