"""Which channel a new survey row takes, decided when it is queued and stored in the row.

- "email": as before (no address: skipped `no_email`).
- "sms": the contact's number, E.164 (none: `no_phone`; unreadable: `invalid_phone`).
- "email_then_sms": e-mail when there is an address, else the number as for "sms".

The person's key in the ledger and the suppressions (`sends.email_norm`) stays the address
when there is one, and is the E.164 number for someone reached only by SMS: one person, one
ledger, whatever the channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from closedloop.daemon.channels.phones import InvalidPhone, to_e164
from closedloop.integration.base import Contact

NO_PHONE = "no_phone"
INVALID_PHONE = "invalid_phone"


@dataclass(frozen=True)
class Route:
    """The row's channel and number, or the reason it cannot be sent (None: it can)."""

    channel: str
    phone: str | None = None
    skip_reason: str | None = None


def route(program_channel: str, contact: Contact | None, region: str) -> Route:
    """The channel for `contact` under a program's `channel` setting."""
    if program_channel == "email" or contact is None:
        return Route("email")
    if program_channel == "email_then_sms" and contact.email:
        return Route("email")
    if not contact.phone:
        return Route("sms", skip_reason=NO_PHONE)
    try:
        return Route("sms", phone=to_e164(contact.phone, region))
    except InvalidPhone:
        return Route("sms", skip_reason=INVALID_PHONE)
