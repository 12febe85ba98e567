"""NPS members from a HubSpot contact list: lists v3 memberships, then contacts batch reads.

The memberships endpoint gives record ids only (250 a page, opaque `after` tokens), so each
page costs one memberships call plus one contacts read per 100 members; a page of contacts
is yielded as soon as it is read, so a caller can checkpoint between pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import structlog

from closedloop.integration.base import Contact, MemberSelection
from closedloop.integration.errors import ConfigError, RecordRejected, TransientError

log = structlog.get_logger(__name__)

MEMBERSHIP_PAGE: Final = 250  # lists v3 memberships: the maximum `limit`

CallFn = Callable[..., Any]  # HubSpotAdapter._call
ReadFn = Callable[[Sequence[str]], dict[str, Contact]]


def list_id_of(selection: MemberSelection, *, source: str) -> str:
    """The list id of a HubSpot selection; the Zendesk kinds are a configuration error."""
    others = [k for k in ("organization_id", "tag", "query") if getattr(selection, k)]
    if others or not selection.list_id:
        given = ", ".join(others) or "nothing"
        raise ConfigError([f"{source}: a HubSpot NPS audience is a contact list (list_id); "
                           f"got {given} (organization, tag and query are Zendesk "
                           "selections)"])
    return selection.list_id


def member_pages(call: CallFn, memberships_api: Any, read: ReadFn, list_id: str, *,
                 source: str) -> Iterator[list[Contact]]:
    """Yield the list's contacts page by page (members HubSpot no longer knows are left out)."""
    after: str | None = None
    tokens: set[str] = set()
    total = 0
    while True:
        try:
            page = call("list_memberships", memberships_api.get_page, list_id=list_id,
                        after=after, limit=MEMBERSHIP_PAGE)
        except RecordRejected as exc:
            if exc.status == 404:
                raise ConfigError([f"{source}: contact list {list_id!r} does not exist"]) \
                    from exc
            raise
        ids = [str(m.record_id) for m in page.results or []]
        if ids:
            contacts = read(ids)
            found = [contacts[i] for i in ids if i in contacts]
            total += len(found)
            if found:
                yield found
        paging = getattr(page, "paging", None)
        nxt = getattr(getattr(paging, "next", None), "after", None)
        if not nxt or not ids:
            log.info("hubspot.members.read", source=source, list_id=list_id, contacts=total)
            return
        if nxt in tokens:
            raise TransientError(f"HubSpot list {list_id} memberships repeated the page token")
        tokens.add(str(nxt))
        after = str(nxt)
