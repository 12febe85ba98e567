"""CRM change notifications end to end, for each CRM: a ticket closes in the sandbox, the
sandbox POSTs a signed webhook to the daemon's web app, the intake reads the ticket and the
survey is queued, with no poll at all; a lost notification is caught by the safety-net poll;
a ticket both paths see is queued once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from e2e_loop import Loop
from notified_loop import drop_next, flush, notified_loop
from sqlalchemy import select, text

from closedloop.daemon.jobs.adaptive import read_pace
from closedloop.daemon.store.notified import BACKOFF
from closedloop.daemon.store.sends import SENDS
from closedloop.integration.sandbox.sides import HubSpotSide, ZendeskSide

# What reading one notified ticket costs, per CRM (the poll's search / export is absent).
INTAKE_CALLS = {
    "hubspot": {"GET /crm/v3/pipelines/tickets": 1,
                "POST /crm/v3/objects/tickets/batch/read": 1,
                "POST /crm/v4/associations/tickets/contacts/batch/read": 1,
                "POST /crm/v3/objects/contacts/batch/read": 1},
    # Zendesk: the requester comes sideloaded with the ticket (no users/show_many)
    "zendesk": {"GET /api/v2/tickets/show_many.json": 1},
}


@pytest.fixture
def loop(tmp_path: Path, crm_name: str) -> Iterator[Loop]:
    yield from notified_loop(tmp_path, crm_name)


def sends_of(loop: Loop, ticket: str) -> list[str]:
    """The programs with an outbox row for this ticket."""
    with loop.rt.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT program FROM sends WHERE ticket_id = :t"),
                            {"t": ticket})
        return sorted(str(r[0]) for r in rows)


def wait_for(predicate: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Whether `predicate` came true within `seconds` (the intake runs on its own timer)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_closed_ticket_is_queued_by_its_notification_alone(loop: Loop) -> None:
    """Close → signed webhook → the intake the webhook woke → one survey queued; the CRM was
    asked for that ticket only (no search, no export), in one batch read per kind."""
    ticket, _ = loop.close_ticket("ada@example.com")
    flush(loop)
    assert wait_for(lambda: sends_of(loop, ticket) == ["support-csat"]), sends_of(loop, ticket)
    calls = {k: v for k, v in loop.crm.sandbox.calls.items() if v}  # type: ignore[attr-defined]
    assert calls == INTAKE_CALLS[loop.source]
    # The intake settles its claim right after queueing: wait for that, not just the row.
    assert wait_for(lambda: loop.rt.store.counts().get("notified.pending", 0) == 0)


def test_lost_notification_is_caught_by_the_safety_net_poll(loop: Loop) -> None:
    """The CRM drops the notification: the intake has nothing; the poll finds the ticket and
    queues it for the intake, whose next run queues the survey."""
    drop_next(loop, 2)  # HubSpot may send creation and close in two requests: lose both
    ticket, _ = loop.close_ticket("bea@example.com")
    flush(loop)
    assert loop.rt.intake()[loop.source].notified == 0
    assert sends_of(loop, ticket) == []
    polled = loop.rt.poll()[loop.source]
    assert (polled.missed, loop.rt.intake()[loop.source].queued, sends_of(loop, ticket)) == \
        (1, 1, ["support-csat"])


def test_ticket_seen_by_notification_and_poll_is_queued_once(loop: Loop) -> None:
    """The intake queues it; the safety-net poll reads the same ticket and adds nothing (the
    outbox's idempotency key is the same on both paths)."""
    ticket, _ = loop.close_ticket("cy@example.com")
    flush(loop)
    assert wait_for(lambda: sends_of(loop, ticket) == ["support-csat"])
    polled = loop.rt.poll()[loop.source]
    assert (polled.tickets >= 1, polled.queued, sends_of(loop, ticket)) == (
        True, 0, ["support-csat"])


def test_reopened_before_the_intake_queues_nothing(loop: Loop) -> None:
    """Notified, then reopened before the intake read it: the read finds it open, no survey,
    and the queue row is settled (not retried)."""
    ticket, _ = loop.close_ticket("dee@example.com")
    loop.reopen(ticket, ago=timedelta(seconds=5))
    flush(loop)
    loop.rt.intake()
    assert sends_of(loop, ticket) == []
    assert loop.rt.store.counts().get("notified.pending", 0) == 0


def test_poll_pace_backs_off_on_known_tickets_and_snaps_back_on_a_missed_one(
        loop: Loop) -> None:
    """With notifications, a poll that only re-finds what the intake queued counts as quiet
    (its interval doubles); one that catches a lost notification snaps back to poll_every."""
    base = loop.config.daemon.poll_every
    ticket, _ = loop.close_ticket("eve@example.com")
    flush(loop)
    assert wait_for(lambda: sends_of(loop, ticket) == ["support-csat"])
    loop.rt.poll()
    backed_off = read_pace(loop.rt.store, loop.source, base).interval
    drop_next(loop, 2)
    loop.close_ticket("fay@example.com")
    flush(loop)
    loop.rt.poll()
    assert (backed_off, read_pace(loop.rt.store, loop.source, base).interval) == (2 * base, base)


def test_a_failed_read_keeps_the_ticket_and_a_later_intake_queues_it(loop: Loop) -> None:
    """The CRM fails the notified ticket's read past the retries: nothing is lost, the row
    waits (notified.pending) and the intake after the backoff queues the survey."""
    path = {"hubspot": "/crm/v3/objects/tickets/batch/read",
            "zendesk": "/api/v2/tickets/show_many"}[loop.source]
    loop.crm.fail_next(2, 500, path)  # the source's retry_attempts is 2: both attempts fail
    ticket, _ = loop.close_ticket("gus@example.com")
    flush(loop)
    loop.rt.intake_kick.cancel()
    loop.rt.intake()  # fails: the source guard logs it, the row backs off
    assert (sends_of(loop, ticket), loop.rt.store.counts().get("notified.pending")) == ([], 1)
    loop.clock.advance(BACKOFF)  # the CRM is well again
    loop.rt.intake()
    assert (sends_of(loop, ticket), loop.rt.store.counts().get("notified.pending", 0)) == (
        ["support-csat"], 0)


def test_a_notified_ticket_reads_as_the_poll_reads_it(loop: Loop) -> None:
    """The batch read by id builds the same Ticket (every property the poll asks for, the
    contacts included) as the poll's search / export: one eligibility path."""
    ticket, _ = loop.close_ticket("hal@example.com")
    flush(loop)
    adapter = loop.rt.adapters[loop.source]
    polled = [t for page in adapter.closed_tickets(None) for t in page.tickets if t.id == ticket]
    by_id = adapter.closed_tickets_by_id([ticket])  # type: ignore[attr-defined]
    assert by_id == polled


def test_a_notified_ticket_carries_its_segments(tmp_path: Path, crm_name: str) -> None:
    """Segments are captured on the notification path as on the poll's: the batch read by id
    asks for the same segment properties (the send gets its region and store)."""
    side = HubSpotSide if crm_name == "hubspot" else ZendeskSide
    reporting = {"segments": side.segments(), "scope": ["region", "store"]}
    for loop in notified_loop(tmp_path, crm_name, reporting=reporting):
        ada = loop.crm.create_contact("ada@example.com", "Ada", region="north")
        ticket = loop.crm.close_new_ticket(ada, loop.crm.support,
                                           loop.clock.now - timedelta(seconds=30), store="oslo")
        flush(loop)
        assert wait_for(lambda: sends_of(loop, ticket) == ["support-csat"])
        with loop.rt.store.engine.connect() as conn:
            [segments] = conn.execute(select(SENDS.c.segments).where(
                SENDS.c.ticket_id == ticket)).scalars().all()
        assert segments == {"region": "north", "store": "oslo"}
