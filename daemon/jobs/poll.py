"""Poll job: closed tickets since the cursor become rows in the outbox, one page at a time.

The cursor is committed only after the page's rows are stored, so a crash re-reads at most
one page, and the outbox's idempotency key makes that re-read harmless.

Rows are queued for paused programs too (held at dispatch, sent on resume or dropped when
they expire). What can be known at poll time is decided here and stored as a skip, so
`closedloop status` shows it: no contact or address, too old, sampled out. What depends on
what else gets sent (cooldowns, coalescing, quiet hours, a reopened ticket) is decided when
the row comes due. List-based NPS programs are not fed by tickets (see jobs/cadence.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from closedloop.daemon.channels.choose import Route, route
from closedloop.daemon.insight.capture import NO_SEGMENTS, captured
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.logging import get_logger
from closedloop.daemon.rules import Reason, sampled_in
from closedloop.daemon.store import NewSend, Store, normalize_email
from closedloop.daemon.surveys import Program
from closedloop.integration.base import Contact, CRMAdapter, NotifiedTicketReader, Ticket

CURSOR = "closed_tickets"


@dataclass
class PollResult:
    pages: int = 0
    tickets: int = 0
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notified: int = 0  # tickets read that a waiting notice already names (left to the intake)
    missed: int = 0  # tickets read that no notice named: queued for the intake all the same


def idem_key(program: Program, source: str, ticket_id: str) -> str:
    """One survey per program, source and ticket, whatever happens (the outbox's UNIQUE key).

    A survey cancelled because its ticket reopened gives its key up (Store.cancel_send), so
    the ticket solved again gets a survey of its own.
    """
    return f"{program.name}:{source}:ticket:{ticket_id}"


def ticket_programs(programs: Sequence[Program], source: str) -> list[Program]:
    """The programs a source's closed tickets feed: paused ones too; cadence ones, in-page
    ones (channel "web", shown by the widget) and event-fed ones (`trigger = "event"`,
    daemon/triggers) never."""
    return [p for p in programs if p.source == source and not p.on_cadence
            and p.channel != "web" and not p.event_fed]


def poll_source(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
                now: datetime, reporting: ReportingSettings = NO_SEGMENTS,
                notified: bool = False) -> PollResult:
    """Read closed tickets from one source and queue their surveys; each row carries the
    `reporting` segments read on its ticket and contact (daemon.insight.capture).

    `notified` (the source has change notifications): the poll is the safety net and
    queues nothing itself; the tickets it reads that still need a survey go to the intake's
    queue (a waiting notice already holds most of them), counted from their closure, so one
    coalesced intake read serves the notices and the poll's finds alike. The page's contacts
    are then not read here (the intake reads them with its batch)."""
    log = get_logger(job="poll", source=adapter.name)
    mine = ticket_programs(programs, adapter.name)
    result = PollResult()
    pages = adapter.closed_tickets(store.get_cursor(adapter.name, CURSOR),
                                   contacts=not notified)
    for page in pages:
        result.pages += 1
        result.tickets += len(page.tickets)
        if notified:
            leave_to_intake(store, adapter, mine, page.tickets, now, result, reporting)
        else:
            queue_rows(store, new_sends(store, adapter, mine, page.tickets, now, reporting),
                       result)
        store.set_cursor(adapter.name, CURSOR, page.cursor, now)  # after the rows: never lost
        log.debug("poll.page", tickets=len(page.tickets))
    log.info("poll.done", pages=result.pages, tickets=result.tickets, queued=result.queued,
             left_to_intake=result.notified, missed=result.missed,
             skipped=sum(result.skipped.values()), **{f"skipped_{k}": v
                                                      for k, v in result.skipped.items()})
    return result


def leave_to_intake(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
                    tickets: Sequence[Ticket], now: datetime, result: PollResult,
                    reporting: ReportingSettings = NO_SEGMENTS) -> None:
    """Queue for the intake the tickets a program surveys that have no outbox row yet (as
    if notified at their closure); count the new ones as missed by the notifications.

    A ticket whose notice an intake holds under a lease (running now, or killed: its lease
    must run out first) is read and queued here, as the intake reads it: a crashed intake
    does not hold a survey back for its lease."""
    source = adapter.name
    keys = {t.id: [idem_key(p, source, t.id) for p in programs if p.matches(t.pipeline, t.stage)]
            for t in tickets}
    known = store.existing_idem_keys([k for ks in keys.values() for k in ks])
    owed = [t for t in tickets if any(k not in known for k in keys[t.id])]
    if not owed:
        return
    held = store.held_notified(source, [t.id for t in owed], now)
    free = [t for t in owed if t.id not in held]
    missed = store.queue_notified(source, [t.id for t in free], now,
                                  {t.id: t.closed_at for t in free})
    result.missed += missed
    result.notified += len(owed) - missed
    reader = getattr(adapter, "closed_tickets_by_id", None)
    if held and callable(reader):
        read = cast(NotifiedTicketReader, adapter).closed_tickets_by_id(sorted(held))
        queue_rows(store, new_sends(store, adapter, programs, read, now, reporting), result)
        result.missed += len(read)  # the intake did not bring them in: keep the poll's pace up


def new_sends(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
              tickets: Sequence[Ticket], now: datetime,
              reporting: ReportingSettings = NO_SEGMENTS) -> list[NewSend]:
    """The rows a page of tickets would add (none for keys already queued); writes nothing.

    `closedloop plan` calls it too, to show tickets closed since the last poll.
    """
    candidates = [(t, p) for t in tickets for p in programs if p.matches(t.pipeline, t.stage)]
    if not candidates:
        return []
    known = store.existing_idem_keys([idem_key(p, adapter.name, t.id) for t, p in candidates])
    fresh = [(t, p) for t, p in candidates if idem_key(p, adapter.name, t.id) not in known]
    wanted = sorted({t.contact_ids[0] for t, _ in fresh if t.contact_ids})
    contacts = adapter.contacts(wanted) if wanted else {}
    return [_new_send(adapter.name, t, p, contacts, now, reporting) for t, p in fresh]


def queue_rows(store: Store, rows: Sequence[NewSend], result: PollResult) -> None:
    """Store the rows (skips too, so status shows each reason); count them in `result`."""
    skipped = [r for r in rows if r.skip_reason]
    result.queued += store.add_sends([r for r in rows if not r.skip_reason])
    if skipped and store.add_sends(skipped):  # stored too, so status shows each reason
        result.skipped.update(r.skip_reason for r in skipped if r.skip_reason)


def _skip_reason(ticket: Ticket, program: Program, contact: Contact | None,
                 now: datetime, way: Route) -> str | None:
    if not ticket.contact_ids:
        return Reason.NO_CONTACT
    if contact is None:
        return Reason.CONTACT_NOT_FOUND
    if (way.channel == "email" and not contact.email) or way.skip_reason:
        return way.skip_reason or Reason.NO_EMAIL  # no_phone, invalid_phone (SMS)
    if now >= ticket.closed_at + program.expire_after:
        return Reason.EXPIRED
    person = normalize_email(contact.email) if contact.email else way.phone or ""
    if not sampled_in(program.name, person, ticket.id, program.sample):
        return Reason.SAMPLED_OUT
    return None


def _new_send(source: str, ticket: Ticket, program: Program, contacts: dict[str, Contact],
              now: datetime, reporting: ReportingSettings) -> NewSend:
    contact = contacts.get(ticket.contact_ids[0]) if ticket.contact_ids else None
    way = route(program.channel, contact, program.phone_region)
    reason = _skip_reason(ticket, program, contact, now, way)
    return NewSend(
        idem_key=idem_key(program, source, ticket.id),
        program=program.name,
        survey_type=program.type.value,
        source=source,
        contact_id=ticket.contact_ids[0] if ticket.contact_ids else "",
        due_at=ticket.closed_at + program.delay,
        created_at=now,
        ticket_id=ticket.id,
        email=contact.email if contact else None,
        first_name=contact.first_name if contact else None,
        language=contact.language if contact else None,
        owner_id=ticket.owner_id,
        team_id=ticket.team_id,
        pipeline=ticket.pipeline,
        subject=ticket.subject,
        closed_at=ticket.closed_at,
        status="skipped" if reason else "pending",
        skip_reason=str(reason) if reason else None,
        timezone=contact.timezone if contact else None,
        organization_id=ticket.organization_id or (contact.organization_id if contact else None),
        segments=captured(reporting, source, ticket, contact),
        channel=way.channel,
        phone=way.phone,
    )
