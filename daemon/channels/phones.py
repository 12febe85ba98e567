"""Phone numbers from the CRM, made E.164 with `phonenumbers`, or skipped with a reason.

A CRM keeps numbers as people typed them ("+47 915 00 000", "(415) 555-0100", "0044 20 ...").
A number without a country code is read in the configured default region. One that does
not parse, or parses to an impossible number, is not guessed at: the survey is skipped with
the reason `invalid_phone`, which `status` and `plan` show.
"""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    """The text is not a valid phone number (even in the default region)."""


def to_e164(raw: str, region: str) -> str:
    """"+4791500000" from "915 00 000" in region "NO"; raises InvalidPhone."""
    text = raw.strip()
    if not text:
        raise InvalidPhone("empty")
    if text.startswith("00"):  # the international prefix most of the world dials
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(phone: str) -> str:
    """"+47*****000" for the logs: enough to tell two numbers apart, not to dial one."""
    return phone[:3] + "*" * max(0, len(phone) - 6) + phone[-3:] if len(phone) > 6 else "***"
