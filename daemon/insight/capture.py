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
from closedloop.integration.base import Contact, CRMAdapter, Ticket
from closedloop.integration.errors import ClosedLoopError

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


def segment_warnings(reporting: ReportingSettings, source: str,
                     adapter: CRMAdapter) -> list[str]:
    """One line per configured segment whose property the CRM does not define (it would
    capture nothing); a CRM that cannot be asked is one line too. Warnings, not errors:
    a property can be created after the config is written, and reports still run."""
    tickets = properties_to_read(reporting, source, "ticket")
    contacts = properties_to_read(reporting, source, "contact")
    if not tickets and not contacts:
        return []
    try:
        undefined = adapter.undefined_properties(tickets, contacts)
    except ClosedLoopError as exc:
        return [f"sources.{source}: could not check the segment properties: {exc}"]
    lines = []
    for obj in ("ticket", "contact"):
        for name, prop in reporting.properties(source, obj).items():
            if prop in undefined.get(obj, ()):
                lines.append(f"sources.{source}: segment {name!r} reads {obj} property "
                             f"{prop!r}, which {adapter.name} does not define: it will "
                             "capture nothing")
    return lines
