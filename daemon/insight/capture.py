"""Custom segments captured when a survey is queued: which properties to read, and the values.

The adapters read the configured properties in the calls the poll and the cadence already
make (HubSpot: the ticket search and the contacts batch read ask for them; Zendesk: they
are in the ticket export and the user reads), and hand them over by the CRM's name in
`Ticket.properties` / `Contact.properties`. Here they become `sends.segments`: segment name
-> text, a segment with no value on the record left out (never ""), no segment at all
stored as NULL. Captured once: a later change on the CRM record moves no old answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.integration.base import Contact, Ticket

NO_SEGMENTS = ReportingSettings()


def properties_to_read(reporting: ReportingSettings, source: str,
                       obj: str) -> tuple[str, ...]:
    """The property names `source`'s adapter must read on `obj` ("ticket"/"contact")."""
    return tuple(dict.fromkeys(reporting.properties(source, obj).values()))


def captured(reporting: ReportingSettings, source: str, ticket: Ticket | None,
             contact: Contact | None) -> dict[str, str] | None:
    """The segment values one send carries (None when it carries none)."""
    out: dict[str, str] = {}
    for obj, record in (("ticket", ticket), ("contact", contact)):
        props: Mapping[str, str] = record.properties if record is not None else {}
        for name, prop in reporting.properties(source, obj).items():
            if props.get(prop):
                out[name] = props[prop]
    return dict(sorted(out.items())) or None
