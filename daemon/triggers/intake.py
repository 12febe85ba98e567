"""One trigger becomes at most one outbox row, through the poll's own row shape and skips."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, cast, get_args

from closedloop.daemon.insight.capture import NO_SEGMENTS, captured
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.jobs.poll import idem_key as ticket_key
from closedloop.daemon.logging import get_logger
from closedloop.daemon.rules import Reason, sampled_in
from closedloop.daemon.store import NewSend, SendRecord, Store, normalize_email
from closedloop.daemon.surveys import Program
from closedloop.integration.base import Contact, CRMAdapter, NotifiedTicketReader, Ticket

from .errors import BadTrigger, TriggerError, UnknownProgram
from .people import Person, Prefetched, Resolved, check_person, prefetch, resolve_person

TriggerKind = Literal["hubspot_workflow", "zendesk_trigger", "generic", "manual", "csv"]
TRIGGER_KINDS: Final = get_args(TriggerKind)
Status = Literal["queued", "skipped", "duplicate"]

KEY_MAX: Final = 255
_TICKET: Final = re.compile(r"^[0-9]{1,20}$")
_REFERENCE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._~:/#@+-]{1,90}$")
_EVENT: Final = re.compile(r"^[A-Za-z0-9._~:/@+=-]{1,100}$")

log = get_logger(component="triggers")


@dataclass(frozen=True)
class Trigger:
    """A request to survey one person for one program, from an event somewhere."""

    program: str
    person: Person
    kind: TriggerKind
    ticket_id: str | None = None  # the CRM ticket it is about
    reference: str | None = None  # or what else: "deal:123", "order:A-17"
    event_id: str | None = None  # the sender's id of the event: its retries queue nothing
    occurred_at: datetime | None = None  # None: now


@dataclass(frozen=True)
class Queued:
    """What became of a trigger: its row's key, and queued / skipped (reason) / duplicate."""

    key: str
    status: Status
    reason: str | None = None  # skipped: the stored skip reason
    send_id: int | None = None  # None on a dry run
    row: NewSend | None = field(default=None, repr=False)  # the row stored or planned
    from_store: bool = False  # the person was known to the store (no CRM read)

    def as_json(self) -> dict[str, object]:
        """The endpoints' 202 body (no personal data)."""
        out: dict[str, object] = {"key": self.key, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.send_id is not None:
            out["send_id"] = self.send_id
        return out


def find_program(programs: Sequence[Program], name: str, source: str | None = None) -> Program:
    """The configured program `name` (reading `source`, when given), or UnknownProgram
    listing the valid names."""
    valid = [p for p in programs if source is None or p.source == source]
    for program in valid:
        if program.name == name:
            return program
    names = ", ".join(sorted(p.name for p in valid)) or "(none)"
    where = "is configured" if source is None else f"reads source {source!r}"
    raise UnknownProgram(f"no program {name[:64]!r} {where}; expected one of: {names}")


def trigger_key(program: Program, trigger: Trigger, contact_id: str | None,
                occurred: datetime) -> str | None:
    """The outbox key of this trigger (None: it needs the contact id, not resolved yet).

    - a ticket, on a ticket-fed program: the poll's key `<program>:<source>:ticket:<id>`,
      so the poll and the trigger make one survey together;
    - an event id: `<program>:<source>:<kind>:<event id>` (ids over 100 characters or
      with other characters are hashed): the sender's retry is a duplicate;
    - neither: `<program>:<source>:<kind>:<contact id>:<ticket|reference|->:<UTC date>`,
      so the same manual or bulk send run twice on one day queues once.
    """
    if trigger.ticket_id and not program.event_fed and not program.on_cadence:
        return ticket_key(program, program.source, trigger.ticket_id)
    base = f"{program.name}:{program.source}:{trigger.kind}:"
    if trigger.event_id:
        event = trigger.event_id
        if not _EVENT.match(event) or len(base) + len(event) > KEY_MAX:
            event = "sha256-" + hashlib.sha256(event.encode()).hexdigest()[:40]
        return base + event
    if contact_id is None:
        return None
    about = f"ticket:{trigger.ticket_id}" if trigger.ticket_id else trigger.reference or "-"
    rest = f"{contact_id}:{about}:{occurred.date().isoformat()}"
    if len(base) + len(rest) > KEY_MAX:  # sends.idem_key is 255 characters
        rest = "sha256-" + hashlib.sha256(rest.encode()).hexdigest()[:40]
    return base + rest


def queue_trigger(store: Store, adapters: Mapping[str, CRMAdapter],
                  programs: Sequence[Program], trigger: Trigger, now: datetime, *,
                  reporting: ReportingSettings = NO_SEGMENTS, dry_run: bool = False,
                  source: str | None = None, prefetched: Prefetched | None = None) -> Queued:
    """Queue the survey `trigger` asks for; with `dry_run`, decide the same and write nothing.
    `source`: the program must read it (a CRM's webhook names that CRM's contacts).

    Raises UnknownProgram, UnknownPerson or BadTrigger (all TriggerError, with a message
    that says which field); CRM errors (integration.errors) pass through for the caller to
    answer as temporary."""
    program = find_program(programs, trigger.program, source)
    _check(trigger, reporting)
    adapter = adapters.get(program.source)
    if adapter is None:
        raise TriggerError(f"program {program.name!r} reads source {program.source!r}, "
                           "which is not running here")
    occurred = min(trigger.occurred_at or now, now)
    early = trigger_key(program, trigger, None, occurred)
    if early is not None and (known := store.send_by_key(early)) is not None:
        return _duplicate(known)  # a retry: no CRM read at all
    person = resolve_person(store, adapter, trigger.person, reporting, prefetched)
    key = early or trigger_key(program, trigger, person.contact.id, occurred)
    assert key is not None
    if early is None and (known := store.send_by_key(key)) is not None:
        return _duplicate(known)
    ticket = _ticket(adapter, trigger.ticket_id)
    row = _new_send(key, program, trigger, person, ticket, occurred, now, reporting)
    status: Status = "skipped" if row.skip_reason else "queued"
    if dry_run:
        return Queued(key, status, row.skip_reason, None, row, person.from_store)
    if not store.add_sends([row]):  # a concurrent twin won the key
        stored = store.send_by_key(key)
        assert stored is not None
        return _duplicate(stored)
    stored = store.send_by_key(key)
    log.info("trigger.queued", program=program.name, source=program.source,
             trigger=trigger.kind, status=status, reason=row.skip_reason,
             from_store=person.from_store)
    return Queued(key, status, row.skip_reason, stored.id if stored else None, row,
                  person.from_store)


def _check(trigger: Trigger, reporting: ReportingSettings) -> None:
    if trigger.kind not in TRIGGER_KINDS:
        raise BadTrigger(f"trigger: expected one of {', '.join(TRIGGER_KINDS)}")
    if trigger.ticket_id is not None and not _TICKET.match(trigger.ticket_id):
        raise BadTrigger("ticket: expected the CRM's ticket id (digits)")
    if trigger.reference is not None and not _REFERENCE.match(trigger.reference):
        raise BadTrigger("reference: expected kind:id such as \"deal:123\" or \"order:A-17\"")
    if trigger.event_id is not None and not 0 < len(trigger.event_id) <= 1000:
        raise BadTrigger("event id: expected 1 to 1000 characters")
    if trigger.occurred_at is not None and trigger.occurred_at.tzinfo is None:
        raise BadTrigger("occurred at: expected a time with its UTC offset")
    check_person(trigger.person, reporting)


def _duplicate(row: SendRecord) -> Queued:
    return Queued(row.idem_key, "duplicate", row.skip_reason, row.id)


def _ticket(adapter: CRMAdapter, ticket_id: str | None) -> Ticket | None:
    """The ticket as the poll would read it, when it is closed and the adapter reads by id."""
    if not ticket_id or not callable(getattr(adapter, "closed_tickets_by_id", None)):
        return None
    found = cast(NotifiedTicketReader, adapter).closed_tickets_by_id([ticket_id])
    return found[0] if found else None


def _skip_reason(key: str, program: Program, contact: Contact, ticket_id: str | None,
                 occurred: datetime, now: datetime) -> Reason | None:
    """The poll's checks that can be made now (the rules decide the rest when it is due)."""
    if not contact.email:
        return Reason.NO_EMAIL
    if now >= occurred + program.expire_after:
        return Reason.EXPIRED
    if not sampled_in(program.name, normalize_email(contact.email), ticket_id or key,
                      program.sample):
        return Reason.SAMPLED_OUT
    return None


def _new_send(key: str, program: Program, trigger: Trigger, person: Resolved,
              ticket: Ticket | None, occurred: datetime, now: datetime,
              reporting: ReportingSettings) -> NewSend:
    contact = person.contact
    closed = ticket.closed_at if ticket else occurred
    reason = _skip_reason(key, program, contact, trigger.ticket_id, closed, now)
    segments = {**person.stored_segments,
                **(captured(reporting, program.source, ticket,
                            None if person.from_store else contact) or {}),
                **trigger.person.segments}
    return NewSend(
        idem_key=key, program=program.name, survey_type=program.type.value,
        source=program.source, contact_id=contact.id, due_at=closed + program.delay,
        created_at=now, ticket_id=trigger.ticket_id, email=contact.email,
        first_name=contact.first_name, language=contact.language,
        owner_id=ticket.owner_id if ticket else None,
        team_id=ticket.team_id if ticket else None,
        pipeline=ticket.pipeline if ticket else None,
        subject=ticket.subject if ticket else None,
        closed_at=closed, status="skipped" if reason else "pending",
        skip_reason=str(reason) if reason else None, timezone=contact.timezone,
        organization_id=(ticket.organization_id if ticket else None) or contact.organization_id,
        segments=dict(sorted(segments.items())) or None,
        phone=trigger.person.phone, trigger=trigger.kind, reference=trigger.reference)


def queue_triggers(store: Store, adapters: Mapping[str, CRMAdapter],
                   programs: Sequence[Program], triggers: Sequence[Trigger], now: datetime, *,
                   reporting: ReportingSettings = NO_SEGMENTS, dry_run: bool = False
                   ) -> list[Queued | TriggerError]:
    """Many triggers (a bulk send): the people the store does not know are read from the
    CRMs in batches first, then each trigger goes as `queue_trigger` would; a trigger's
    TriggerError is returned in its place (the others go on). CRM errors raise."""
    people: dict[str, list[Person]] = {}
    for trigger in triggers:
        program = next((p for p in programs if p.name == trigger.program), None)
        if program is not None and program.source in adapters and _well_formed(trigger,
                                                                                reporting):
            people.setdefault(program.source, []).append(trigger.person)
    known: dict[tuple[str, str], Contact | None] = {}
    for name, group in people.items():
        known.update(prefetch(store, adapters[name], group))
    out: list[Queued | TriggerError] = []
    for trigger in triggers:
        try:
            out.append(queue_trigger(store, adapters, programs, trigger, now,
                                     reporting=reporting, dry_run=dry_run, prefetched=known))
        except TriggerError as exc:
            out.append(exc)
    return out


def _well_formed(trigger: Trigger, reporting: ReportingSettings) -> bool:
    try:
        check_person(trigger.person, reporting)
    except TriggerError:
        return False
    return True
