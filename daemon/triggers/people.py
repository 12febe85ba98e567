"""Who a trigger names: the person as the store last saw them, or as the CRM has them now.

Store first: the newest survey row of that contact id (or e-mail) on the program's source
already holds what the CRM said (address, first name, language, zone, contact segments),
so a CRM's retry or a burst of triggers for known customers costs no CRM call. Otherwise
one contact read through the source's adapter (`contacts([id])`, or `find_contacts_by_email`
when the adapter has it); a person neither knows is UnknownPerson, never a guessed row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.store import Store
from closedloop.integration.base import Contact, CRMAdapter

from .errors import BadTrigger, UnknownPerson

_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_LANGUAGE: Final = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,2}$")
_PHONE: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
_CONTACT_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TEXT_MAX: Final = 255

EmailFinder = Callable[[Sequence[str]], Mapping[str, Contact]]


@dataclass(frozen=True)
class Person:
    """Whom to survey: a CRM contact id on the program's source, or an e-mail address (or
    both); the other fields, when given, override what the CRM says for this survey."""

    contact_id: str | None = None
    email: str | None = None
    name: str | None = None  # the greeting uses its first word
    language: str | None = None  # "fr", "pt-BR"
    timezone: str | None = None  # IANA, for quiet hours
    phone: str | None = None  # E.164, for SMS programs
    segments: Mapping[str, str] = field(default_factory=dict)  # [reporting.segments] names

    def __repr__(self) -> str:  # never the address or number (logs, tracebacks)
        return f"Person(contact_id={self.contact_id!r}, email={'***' if self.email else None})"


@dataclass(frozen=True)
class Resolved:
    """The person as a CRM Contact, and where it came from."""

    contact: Contact
    from_store: bool
    stored_segments: Mapping[str, str] = field(default_factory=dict)  # contact segments


def check_person(person: Person, reporting: ReportingSettings) -> None:
    """BadTrigger naming the first malformed field of `person`."""
    if not person.contact_id and not person.email:
        raise BadTrigger("the person needs a CRM contact id or an e-mail address")
    if person.contact_id is not None and not _CONTACT_ID.match(person.contact_id):
        raise BadTrigger("contact id: expected the CRM's id (letters, digits, '-' or '_')")
    if person.email is not None and not _EMAIL.match(person.email):
        raise BadTrigger("email: not an e-mail address")
    if person.name is not None and not 0 < len(person.name.strip()) <= _TEXT_MAX:
        raise BadTrigger(f"name: expected 1 to {_TEXT_MAX} characters")
    if person.language is not None and not _LANGUAGE.match(person.language):
        raise BadTrigger(f"language: expected a language tag such as \"fr\" or \"pt-BR\"; "
                         f"got {person.language[:20]!r}")
    if person.timezone is not None:
        try:
            ZoneInfo(person.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadTrigger(f"timezone: {person.timezone[:40]!r} is not an IANA time zone "
                             "such as \"Europe/Oslo\"") from None
    if person.phone is not None and not _PHONE.match(person.phone):
        raise BadTrigger("phone: expected an E.164 number such as +4722334455")
    known = set(reporting.segments)
    for name, value in person.segments.items():
        if name not in known:
            raise BadTrigger(f"segments: {name[:40]!r} is not a configured segment; expected "
                             f"one of: {', '.join(sorted(known)) or '(none configured)'}")
        if not isinstance(value, str) or not 0 < len(value) <= _TEXT_MAX:
            raise BadTrigger(f"segments.{name}: expected a text of 1 to {_TEXT_MAX} characters")


Prefetched = Mapping[tuple[str, str], Contact | None]  # (source, "id:X" | "email:x") -> found


def person_key(person: Person) -> str:
    """How a CRM read of this person is keyed in a Prefetched map."""
    if person.contact_id:
        return f"id:{person.contact_id}"
    return f"email:{(person.email or '').strip().lower()}"


def prefetch(store: Store, adapter: CRMAdapter, people: Sequence[Person]) -> dict[
        tuple[str, str], Contact | None]:
    """The people of one source the store does not know, read from the CRM in batches
    (contacts 100 a call; by e-mail: HubSpot 100 a call, Zendesk one search each); None for
    those the CRM does not know either."""
    source = adapter.name
    unknown = [p for p in people if (p.contact_id or p.email) and store.latest_send_of(
        source, contact_id=p.contact_id, email=p.email) is None]
    ids = sorted({p.contact_id for p in unknown if p.contact_id})
    emails = sorted({(p.email or "").strip().lower() for p in unknown
                     if not p.contact_id and p.email})
    out: dict[tuple[str, str], Contact | None] = {}
    if ids:
        found = adapter.contacts(ids)
        out.update({(source, f"id:{i}"): found.get(i) for i in ids})
    finder: EmailFinder | None = getattr(adapter, "find_contacts_by_email", None)
    if emails and callable(finder):
        by_mail = finder(emails)
        out.update({(source, f"email:{e}"): by_mail.get(e) for e in emails})
    return out


def resolve_person(store: Store, adapter: CRMAdapter, person: Person,
                   reporting: ReportingSettings, prefetched: Prefetched | None = None
                   ) -> Resolved:
    """The person named, store first, then the CRM (or what `prefetch` read of it);
    UnknownPerson when neither knows them."""
    source = adapter.name
    row = store.latest_send_of(source, contact_id=person.contact_id, email=person.email)
    if row is not None and row.email:
        contact = Contact(id=row.contact_id, email=row.email, first_name=row.first_name,
                          language=row.language, timezone=row.timezone,
                          organization_id=row.organization_id)
        kept = {name: value for name, value in (row.segments or {}).items()
                if name in reporting.properties(source, "contact")}
        return Resolved(_overridden(contact, person), True, kept)
    key = (source, person_key(person))
    if prefetched is not None and key in prefetched:
        read = prefetched[key]
        if read is None:
            raise UnknownPerson(_unknown(source, person))
        return Resolved(_overridden(read, person), False)
    return Resolved(_overridden(_from_crm(adapter, person), person), False)


def _unknown(source: str, person: Person) -> str:
    if person.contact_id:
        return f"source {source!r} has no contact {person.contact_id!r}"
    return f"source {source!r} has no contact with that e-mail address"


def _from_crm(adapter: CRMAdapter, person: Person) -> Contact:
    if person.contact_id:
        found = adapter.contacts([person.contact_id]).get(person.contact_id)
        if found is None:
            raise UnknownPerson(_unknown(adapter.name, person))
        return found
    assert person.email is not None  # check_person ran
    finder: EmailFinder | None = getattr(adapter, "find_contacts_by_email", None)
    if not callable(finder):
        raise UnknownPerson(f"source {adapter.name!r} cannot be searched by e-mail here: "
                            "give the person's contact id")
    hit = finder([person.email]).get(person.email.strip().lower())
    if hit is None:
        raise UnknownPerson(_unknown(adapter.name, person))
    return hit


def _overridden(contact: Contact, person: Person) -> Contact:
    """The contact with the trigger's own fields put over the CRM's."""
    first = person.name.split()[0] if person.name and person.name.split() else None
    return replace(contact,
                   email=person.email.strip() if person.email else contact.email,
                   first_name=first or contact.first_name,
                   language=person.language or contact.language,
                   timezone=person.timezone or contact.timezone)
