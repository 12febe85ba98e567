"""The users an NPS list program surveys: an organization's users, or a user search.

A selection names exactly one of organization_id, tag or query (list_id is HubSpot's);
the search is the search export (cursor paging, no 1,000-result cap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from closedloop.integration.base import Contact, MemberSelection
from closedloop.integration.errors import ConfigError
from closedloop.integration.zendesk._paging import CallFn, pages
from closedloop.integration.zendesk._users import to_contact


def member_pages(call: CallFn, zd: Any, selection: MemberSelection, extra: Sequence[str], *,
                 source: str) -> Iterator[list[Contact]]:
    """Pages of the selection's users; ConfigError for a selection Zendesk cannot hold."""
    chosen = [k for k in ("list_id", "organization_id", "tag", "query")
              if getattr(selection, k)]
    if len(chosen) != 1:
        raise ConfigError([f"{source}: a member selection needs exactly one of "
                           f"organization_id, tag or query (got {chosen or 'none'})"])
    if selection.list_id:
        raise ConfigError([f"{source}: list_id selects HubSpot list members; Zendesk "
                           "has no lists: use organization_id, tag or query"])
    first: Callable[[], Any]
    if selection.organization_id:
        org = str(selection.organization_id).strip()
        if not org.isdigit():
            raise ConfigError([f"{source}: organization_id {org!r} is not a number"])
        endpoint = "organization_users"

        def first() -> Any:
            return zd.organizations.users(int(org))
    else:
        query = (f"tags:{selection.tag.strip()}" if selection.tag
                 else str(selection.query).strip())
        if selection.tag and (not selection.tag.strip() or " " in selection.tag.strip()):
            raise ConfigError([f"{source}: tag {selection.tag!r} is not one Zendesk tag"])
        endpoint = "search_export"

        def first() -> Any:
            return zd.search_export(query, type="user")
    return _contacts(call, endpoint, first, extra)


def _contacts(call: CallFn, endpoint: str, first: Callable[[], Any],
              extra: Sequence[str]) -> Iterator[list[Contact]]:
    for page in pages(call, endpoint, first):
        raws = (item.to_dict() for item in page)
        contacts = [to_contact(raw, extra) for raw in raws if raw.get("id") is not None]
        if contacts:
            yield contacts
