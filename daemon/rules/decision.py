"""What the rules decide for one due row, and the stable names of every reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"  # never sent; the row keeps the reason
    DEFER = "defer"  # quiet hours, an off day, a survey in flight: due again at `until`
    HOLD = "hold"  # the program is paused: due again at `until`, not lost


class Reason(StrEnum):
    """Why a survey was not sent (skip) or not yet (defer, hold); status counts each."""

    NO_CONTACT = "no_contact"  # poll: the ticket has no requester
    CONTACT_NOT_FOUND = "contact_not_found"  # poll: the CRM does not know the requester
    PROGRAM_REMOVED = "program_removed"
    PROGRAM_PAUSED = "program_paused"
    EXPIRED = "expired"
    NO_EMAIL = "no_email"
    NEW_CUSTOMER = "new_customer"  # cadence: not a customer for `customer_for` yet
    SUPPRESSED = "suppressed"
    TICKET_REOPENED = "ticket_reopened"
    SAMPLED_OUT = "sampled_out"
    COALESCED = "coalesced"
    PROGRAM_COOLDOWN = "program_cooldown"
    GLOBAL_COOLDOWN = "global_cooldown"
    PARENT_NOT_SENT = "parent_not_sent"
    ANSWERED = "answered"
    SUPERSEDED = "superseded"  # a reminder after another survey reached the person
    SURVEY_IN_FLIGHT = "survey_in_flight"  # a skip would rest on a mail still on its way
    QUIET_HOURS = "quiet_hours"
    SEND_DAY = "send_day"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason | None = None
    until: datetime | None = None  # DEFER and HOLD: when to look again

    @classmethod
    def send(cls) -> Decision:
        return cls(Action.SEND)

    @classmethod
    def skip(cls, reason: Reason) -> Decision:
        return cls(Action.SKIP, reason)
