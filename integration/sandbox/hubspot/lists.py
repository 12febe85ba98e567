"""Contact lists (lists v3, "ILS" ids): members and their join times, paged by record id.

HubSpot pages memberships with opaque `after`/`before` tokens, ascending by record id after
an `after` token (or none) and descending before a `before` token. The sandbox's tokens are
opaque too (base64 of the boundary record id), so a client that computes them fails here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field


@dataclass
class ContactList:
    """One manual contact list: members map record id -> epoch ms it joined."""

    list_id: str
    name: str
    created_ms: int
    updated_ms: int
    members: dict[str, int] = field(default_factory=dict)
    version: int = 1


@dataclass(frozen=True)
class MembersPage:
    """One memberships answer: (record id, joined ms) rows and the tokens around them."""

    rows: list[tuple[str, int]]
    total: int
    after: str | None  # token for the next page (ascending), None at the end
    before: str | None  # token for the previous page, None on a first page


def token_for(record_id: str) -> str:
    return base64.urlsafe_b64encode(f"m:{record_id}".encode()).decode().rstrip("=")


def record_of(token: str) -> int | None:
    """The boundary record id in a paging token; None when the token is not ours."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, rid = text.partition(":")
    return int(rid) if kind == "m" and rid.isdigit() else None


def page_members(lst: ContactList, *, after: int | None, before: int | None,
                 limit: int) -> MembersPage:
    """The rows after `after` (ascending) or, with only `before`, before it (descending)."""
    ordered = sorted(lst.members.items(), key=lambda kv: int(kv[0]))
    total = len(ordered)
    if after is not None or before is None:
        start = after if after is not None else -1
        rest = [row for row in ordered if int(row[0]) > start]
        rows = rest[:limit]
        more = len(rest) > limit
        return MembersPage(rows, total, token_for(rows[-1][0]) if more and rows else None,
                           token_for(rows[0][0]) if after is not None and rows else None)
    rest = [row for row in reversed(ordered) if int(row[0]) < before]
    rows = rest[:limit]
    more = len(rest) > limit
    return MembersPage(rows, total, token_for(rows[0][0]) if rows else None,
                       token_for(rows[-1][0]) if more and rows else None)
