"""Poll job: closed tickets since the cursor become rows in the outbox, one page at a time.

The cursor is committed only after the page's rows are stored, so a crash re-reads at most
one page, and the outbox's idempotency key makes that re-read harmless.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from daemon.logging import get_logger
from daemon.store import NewSend, Store
from daemon.surveys import Program
from integration.base import Contact, CRMAdapter, Ticket

CURSOR = "closed_tickets"
# A survey about a ticket closed weeks ago confuses more than it teaches.
STALE_AFTER = timedelta(days=14)


@dataclass
class PollResult:
    pages: int = 0
    tickets: int = 0
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def idem_key(program: Program, source: str, ticket_id: str) -> str:
    """One survey per program, source and ticket, whatever happens (the outbox's UNIQUE key)."""
    return f"{program.name}:{source}:ticket:{ticket_id}"


def poll_source(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
                now: datetime) -> PollResult:
    """Read closed tickets from one source and queue their surveys."""
    log = get_logger(job="poll", source=adapter.name)
    mine = [p for p in programs if p.source == adapter.name and p.enabled]
    result = PollResult()
    for page in adapter.closed_tickets(store.get_cursor(adapter.name, CURSOR)):
        result.pages += 1
        result.tickets += len(page.tickets)
        _queue_page(store, adapter, mine, page.tickets, now, result)
        store.set_cursor(adapter.name, CURSOR, page.cursor, now)
        log.debug("poll.page", tickets=len(page.tickets))
    log.info("poll.done", pages=result.pages, tickets=result.tickets, queued=result.queued,
             skipped=sum(result.skipped.values()), **{f"skipped_{k}": v
                                                      for k, v in result.skipped.items()})
    return result


def _queue_page(store: Store, adapter: CRMAdapter, programs: Sequence[Program],
                tickets: Sequence[Ticket], now: datetime, result: PollResult) -> None:
    candidates = [(t, p) for t in tickets for p in programs if p.matches(t.pipeline, t.stage)]
    if not candidates:
        return
    known = store.existing_idem_keys([idem_key(p, adapter.name, t.id) for t, p in candidates])
    fresh = [(t, p) for t, p in candidates if idem_key(p, adapter.name, t.id) not in known]
    wanted = sorted({t.contact_ids[0] for t, _ in fresh if t.contact_ids})
    contacts = adapter.contacts(wanted) if wanted else {}
    rows = [_new_send(adapter.name, t, p, contacts, now) for t, p in fresh]
    skipped = [r for r in rows if r.skip_reason]
    result.queued += store.add_sends([r for r in rows if not r.skip_reason])
    if skipped and store.add_sends(skipped):  # stored too, so status shows each reason
        result.skipped.update(r.skip_reason for r in skipped if r.skip_reason)


def _new_send(source: str, ticket: Ticket, program: Program, contacts: dict[str, Contact],
              now: datetime) -> NewSend:
    contact = contacts.get(ticket.contact_ids[0]) if ticket.contact_ids else None
    reason = None
    if not ticket.contact_ids:
        reason = "no_contact"
    elif contact is None:
        reason = "contact_not_found"
    elif not contact.email:
        reason = "no_email"
    elif now - ticket.closed_at > STALE_AFTER:
        reason = "ticket_too_old"
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
        skip_reason=reason,
    )
