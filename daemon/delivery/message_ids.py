"""Message-IDs that name their send, so a bounce report finds the survey it is about.

A DSN quotes the original message's headers, and Message-ID is the one header every relay
keeps. Ours reads `<cl.<send id>.<16 random hex>@<sender domain>>`: the id says which row, and
the random part (checked against the Message-ID the store recorded at send time) means a
forged report cannot name a send it never saw.
"""

from __future__ import annotations

import re
import secrets

_OURS = re.compile(r"^\s*<cl\.(\d{1,18})\.[0-9a-f]{16}@[^<>@\s]+>\s*$")


def make_message_id(send_id: int, domain: str) -> str:
    """A fresh, unique Message-ID on the sender's own domain for one send."""
    return f"<cl.{send_id}.{secrets.token_hex(8)}@{domain}>"


def send_id_of(message_id: str | None) -> int | None:
    """The send id a Message-ID of ours carries; None for anything else."""
    match = _OURS.match(message_id or "")
    return int(match.group(1)) if match else None
