"""`closedloop check --online` on Zendesk: the token works, its user's role, the fields.

Zendesk API tokens carry no scopes: the token user's role decides (an admin or agent reads
tickets and writes user fields; only an admin's token creates missing fields). Ticket
properties do not exist on Zendesk in this design (tags and a private note are its
ticket-level hook): asking for some is a problem of the mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from closedloop.integration.base import OnlineCheck
from closedloop.integration.errors import AuthError, RecordRejected
from closedloop.integration.zendesk import _fields
from closedloop.integration.zendesk._paging import CallFn

WORKING_ROLES = ("admin", "agent")


def check_online(call: CallFn, zd: Any, property_names: Sequence[str],
                 ticket_property_names: Sequence[str] = ()) -> OnlineCheck:
    """users/me, then the user fields when `property_names` are asked for."""
    try:
        me = call("users_me", zd.users.me).to_dict()
    except AuthError:
        return OnlineCheck(ok=False, problems=[
            "Zendesk refused the e-mail address and API token (401): check both, and that "
            "token access is enabled in Admin Center"])
    except RecordRejected as exc:
        return OnlineCheck(ok=False, problems=[f"could not read the token's user: {exc}"])
    role = str(me.get("role") or "")
    if me.get("id") is None:
        return OnlineCheck(ok=False, problems=["Zendesk answered as an anonymous user: "
                                               "the credentials were not accepted"])
    problems: list[str] = []
    if ticket_property_names:
        problems.append("Zendesk takes no ticket properties: use [hooks] tags and notes")
    if role not in WORKING_ROLES:
        problems.append(f"the token's user is {role or 'of no role'}, not an admin or agent: "
                        "it cannot read tickets or write user fields")
    missing: list[str] = []
    if property_names:
        existing = _fields.existing_fields(call, zd.user_fields)
        missing = [n for n in property_names if n not in existing]  # the CLI counts them
        if missing and role != "admin":
            problems.append(f"the token's user is {role or 'of no role'}: only an admin's "
                            "token can create the missing user fields with setup")
    return OnlineCheck(ok=not problems and not missing, problems=problems,
                       scopes=[f"role:{role}"], missing_properties=missing)
