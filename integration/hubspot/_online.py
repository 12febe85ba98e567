"""`closedloop check --online` on HubSpot: the token's scopes, its lists, the properties.

Each gap is one problem; missing contact and ticket properties are listed apart
(`missing_properties`, `missing_ticket_properties`), so the CLI says once how many of each
(and `setup` creates them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from closedloop.integration.base import OnlineCheck
from closedloop.integration.errors import AuthError, RecordRejected
from closedloop.integration.hubspot import _properties

LISTS_SCOPE = "crm.lists.read"
CallFn = Callable[..., Any]  # HubSpotAdapter._call(endpoint, fn, **kwargs)


def check_online(token_scopes: Callable[[], set[str]], call: CallFn, properties_api: Any,
                 lists_api: Any, lists: Sequence[str], required_scopes: Sequence[str],
                 property_names: Sequence[str],
                 ticket_property_names: Sequence[str] = ()) -> OnlineCheck:
    """Scopes (access-token-info), then the lists and properties the config names."""
    try:
        scopes = token_scopes()
    except AuthError:
        return OnlineCheck(ok=False, problems=["token rejected by HubSpot (401)"])
    except RecordRejected as exc:
        return OnlineCheck(ok=False, problems=[f"could not read the token's scopes: {exc}"])
    problems = [f"token lacks scope {s!r}" for s in required_scopes if s not in scopes]
    if LISTS_SCOPE in scopes:
        problems += _list_problems(call, lists_api, lists)
    missing = _missing(call, properties_api, property_names, "contacts", problems)
    missing_tickets = _missing(call, properties_api, ticket_property_names, "tickets",
                               problems)
    return OnlineCheck(ok=not problems and not missing and not missing_tickets,
                       problems=problems, scopes=sorted(scopes), missing_properties=missing,
                       missing_ticket_properties=missing_tickets)


def _missing(call: CallFn, properties_api: Any, names: Sequence[str], object_type: str,
             problems: list[str]) -> list[str]:
    """Of `names`, the properties of `object_type` HubSpot does not have (one GET)."""
    if not names:
        return []
    try:
        existing = _properties.existing_names(call, properties_api, object_type)
    except AuthError as exc:
        problems.append(f"cannot read {object_type[:-1]} properties: {exc}")
        return []
    return [n for n in names if n not in existing]  # the CLI counts them


def _list_problems(call: CallFn, lists_api: Any, lists: Sequence[str]) -> list[str]:
    """One problem per configured list HubSpot does not have (GET /crm/v3/lists/{id})."""
    problems = []
    for list_id in lists:
        try:
            call("list_read", lists_api.get_by_id, list_id=list_id)
        except RecordRejected as exc:
            if exc.status != 404:
                raise
            problems.append(f"contact list {list_id!r} does not exist")
        except AuthError as exc:
            problems.append(f"cannot read contact list {list_id!r}: {exc}")
    return problems
