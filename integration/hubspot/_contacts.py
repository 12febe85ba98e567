"""Reading contacts 100 at a time and turning HubSpot properties into Contact records.

Shared by `contacts(ids)` and `members(selection)`, so both read the same properties in the
same batch call: time zone, primary company and customer date cost no extra request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

import structlog
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from closedloop.integration._values import picked
from closedloop.integration.base import Contact
from closedloop.integration.hubspot._tickets import parse_hubspot_time
from closedloop.integration.hubspot._timezones import iana_timezone

log = structlog.get_logger(__name__)

BATCH_SIZE: Final = 100  # contacts batch read/update limit
CONTACT_PROPERTIES: Final = [
    "email", "firstname", "lastname", "hs_language", "hs_timezone", "createdate",
    "hs_lifecyclestage_customer_date", "associatedcompanyid",
]

CallFn = Callable[..., Any]  # HubSpotAdapter._call


def with_extra(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """The property names to ask for: `base`, then the extra ones not in it, once each."""
    return list(dict.fromkeys([*base, *extra]))


def _time(value: Any) -> datetime | None:
    """A datetime property, or None when it is empty or not a timestamp HubSpot writes."""
    if not value:
        return None
    try:
        return parse_hubspot_time(str(value))
    except ValueError:
        return None


def _company(value: Any) -> str | None:
    """associatedcompanyid is a number property: "123" (or "123.0" from some imports)."""
    text = str(value or "").strip()
    if text.endswith(".0"):
        text = text[:-2]
    return text or None


def to_contact(row: Any, extra: Sequence[str] = ()) -> Contact:
    """One SimplePublicObject -> Contact; the customer date wins over the creation date.
    `extra` properties (asked for beside CONTACT_PROPERTIES) land in Contact.properties."""
    props: dict[str, Any] = row.properties or {}
    return Contact(
        id=str(row.id), email=props.get("email") or None,
        first_name=props.get("firstname") or None,
        last_name=props.get("lastname") or None,
        language=props.get("hs_language") or None,
        timezone=iana_timezone(props.get("hs_timezone")),
        organization_id=_company(props.get("associatedcompanyid")),
        customer_since=_time(props.get("hs_lifecyclestage_customer_date"))
        or _time(props.get("createdate")),
        properties=picked(props, extra))


def read_contacts(call: CallFn, batch_api: Any, ids: Sequence[str], *, source: str,
                  extra: Sequence[str] = ()) -> dict[str, Contact]:
    """Contacts by id, 100 per call, in the order asked; unknown ids are left out. The
    `extra` properties ride in the same batch read (no call of their own)."""
    unique = list(dict.fromkeys(str(i) for i in ids))
    out: dict[str, Contact] = {}
    for start in range(0, len(unique), BATCH_SIZE):
        chunk = unique[start:start + BATCH_SIZE]
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in chunk],
            properties=with_extra(CONTACT_PROPERTIES, extra))
        answer = call("contacts_read", batch_api.read,
                      batch_read_input_simple_public_object_id=body)
        found = {str(row.id): to_contact(row, extra) for row in answer.results or []}
        out.update((i, found[i]) for i in chunk if i in found)
        missing = len(chunk) - sum(1 for i in chunk if i in found)
        if missing:
            log.info("hubspot.contacts.missing", source=source, count=missing)
    return out


def read_contacts_by_email(call: CallFn, batch_api: Any, emails: Sequence[str], *,
                           source: str, extra: Sequence[str] = ()) -> dict[str, Contact]:
    """Contacts by e-mail address (batch read with idProperty=email, 100 per call), keyed
    by the lower-cased address; addresses HubSpot does not know are left out."""
    unique = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
    out: dict[str, Contact] = {}
    for start in range(0, len(unique), BATCH_SIZE):
        chunk = unique[start:start + BATCH_SIZE]
        body = BatchReadInputSimplePublicObjectId(
            id_property="email", inputs=[SimplePublicObjectId(id=e) for e in chunk],
            properties=with_extra(CONTACT_PROPERTIES, extra))
        answer = call("contacts_read", batch_api.read,
                      batch_read_input_simple_public_object_id=body)
        for row in answer.results or []:
            contact = to_contact(row, extra)
            if contact.email and contact.email.strip().lower() in chunk:
                out[contact.email.strip().lower()] = contact
    if len(out) < len(unique):
        log.info("hubspot.contacts.missing", source=source, count=len(unique) - len(out))
    return out
