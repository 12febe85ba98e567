"""The coalescing windows ([coalescing], daemon/jobs/windows.py) end to end, for each CRM:
work waits in the store for company up to its window and not a moment past it; one CRM call
then carries all of it; a restart in the middle of a window loses nothing.

Each test puts the clock on both sides of a window's edge and counts the sandbox's calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_loop import NO_WINDOWS, SECRET, Loop, _loop
from notified_loop import drop_next, flush, notified_loop

from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.jobs.adaptive import read_pace
from closedloop.daemon.jobs.windows import INTAKE_FULL
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.store.answers import HOOK_SETTLE

ANSWER = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/)\d+")
WINDOWS = {**NO_WINDOWS, "answers": "45s", "writeback": "15m"}
TICKET_READ = {"hubspot": "POST /crm/v3/objects/tickets/batch/read",
               "zendesk": "GET /api/v2/tickets/show_many.json"}
ASSOCIATIONS = "POST /crm/v4/associations/tickets/contacts/batch/read"


def windows_loop(tmp_path: Path, crm_name: str, **windows: str) -> Iterator[Loop]:
    import time_machine
    from e2e_loop import E2E_START

    with time_machine.travel(E2E_START, tick=True):
        yield from _loop(tmp_path, crm_name, {"coalescing": {**NO_WINDOWS, **windows}})


@pytest.fixture
def loop(tmp_path: Path, crm_name: str) -> Iterator[Loop]:
    yield from windows_loop(tmp_path, crm_name, answers="45s", writeback="15m")


def surveyed(loop: Loop) -> tuple[str, str]:
    """A ticket closes, its survey goes out; (contact, the mail's score-link stem)."""
    return surveyed_ticket(loop)[1:]


def surveyed_ticket(loop: Loop, email: str = "ada@example.com") -> tuple[str, str, str]:
    """A ticket closes, its survey goes out; (ticket, contact, the mail's score-link stem)."""
    ticket, contact = loop.close_ticket(email)
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    body = loop.sink.messages[-1].get_body(("plain",))
    assert body is not None
    found = ANSWER.search(body.get_content())
    assert found is not None
    return ticket, contact, found.group(1)


def click(stem: str, score: int) -> None:
    """The customer's tap on the confirm button of the landing page."""
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        assert web.get(f"{stem}{score}").status_code == 200
        assert web.post(f"{stem}{score}", data={"via": "button"}).status_code == 200


def contact_writes(loop: Loop) -> int:
    return loop.crm.calls(loop.crm.contact_write_key)


def reads_besides_pipelines(loop: Loop) -> int:
    """Calls made, less HubSpot's pipelines read (once per adapter: its stages are cached)."""
    calls: dict[str, int] = loop.crm.sandbox.calls  # type: ignore[attr-defined]
    return sum(n for key, n in calls.items() if "/pipelines/" not in key)


def test_an_answer_waits_its_window_then_reaches_the_record(loop: Loop) -> None:
    """An answer is not written 44 s after it was given (one second short of the 45-s
    window) and is written, with the survey's sent date riding along in the same call, at
    45 s, though the sent date's own 15-minute window has not passed."""
    contact, stem = surveyed(loop)
    click(stem, 4)
    loop.crm.reset_calls()
    loop.clock.advance(timedelta(seconds=44))
    loop.rt.write_back()
    assert (contact_writes(loop), loop.prop(contact, "cl_csat_last_rating")) == (0, "")
    loop.clock.advance(timedelta(seconds=1))
    loop.rt.write_back()
    assert (contact_writes(loop), loop.prop(contact, "cl_csat_last_rating"),
            loop.prop(contact, "cl_csat_last_sent") != "") == (1, "4", True)


def test_ticket_hooks_wait_their_own_window_not_the_answers(loop: Loop) -> None:
    """An answer's ticket hooks (due after their 5-minute settle) wait their own 15-minute
    window: another customer's answer written 10 minutes after they were due does not take
    them along; they are still unwritten at 14:59 and written at 15:00."""
    ticket, contact, stem = surveyed_ticket(loop)
    _, other, other_stem = surveyed_ticket(loop, "bo@example.com")
    click(stem, 1)
    loop.clock.advance(timedelta(seconds=45))
    loop.rt.write_back()
    assert (loop.prop(contact, "cl_csat_last_rating"), loop.ticket_hooks(ticket)) == \
        ("1", ([], []))
    loop.clock.advance(HOOK_SETTLE - timedelta(seconds=45) + timedelta(minutes=10))
    click(other_stem, 5)
    loop.clock.advance(timedelta(seconds=45))
    loop.rt.write_back()
    assert (loop.prop(other, "cl_csat_last_rating"), loop.ticket_hooks(ticket)) == \
        ("5", ([], []))
    loop.clock.advance(timedelta(minutes=4, seconds=14))  # the hooks due 14:59 ago
    loop.rt.write_back()
    assert loop.ticket_hooks(ticket) == ([], [])
    loop.clock.advance(timedelta(seconds=1))
    loop.rt.write_back()
    assert loop.ticket_hooks(ticket) != ([], [])


def test_sent_dates_wait_their_longer_window(loop: Loop) -> None:
    """With no answer, the survey's sent date waits 15 minutes: not written at 14:59, written
    at 15:00, in one call."""
    contact, _ = surveyed(loop)
    loop.crm.reset_calls()
    loop.clock.advance(timedelta(minutes=14, seconds=59))
    loop.rt.write_back()
    assert (contact_writes(loop), loop.prop(contact, "cl_csat_last_sent")) == (0, "")
    loop.clock.advance(timedelta(seconds=1))
    loop.rt.write_back()
    assert (contact_writes(loop), loop.prop(contact, "cl_csat_last_sent") != "") == (1, True)


def test_an_answer_waiting_its_window_survives_a_restart(loop: Loop) -> None:
    """The daemon stops 20 s into an answer's window (the runtime closed, as a crash would
    leave it: the row is only in the database); a new runtime on the same database writes
    nothing before the window ends and the answer when it does."""
    contact, stem = surveyed(loop)
    click(stem, 2)
    loop.clock.advance(timedelta(seconds=20))
    loop.rt.close()
    again = build_runtime(loop.config, Secrets(secret_key=SECRET,
                                               source_tokens={loop.source: loop.crm.secrets()}),
                          clock=loop.clock)
    try:
        loop.crm.reset_calls()
        loop.clock.advance(timedelta(seconds=24))
        again.write_back()
        assert (contact_writes(loop), loop.prop(contact, "cl_csat_last_rating")) == (0, "")
        loop.clock.advance(timedelta(seconds=1))
        again.write_back()
        assert (contact_writes(loop), loop.prop(contact, "cl_csat_last_rating")) == (1, "2")
    finally:
        again.close()


@pytest.mark.parametrize(("delay", "window"), [("1h", timedelta(minutes=30)),
                                               ("20m", timedelta(minutes=15))],
                         ids=["window", "bounded-by-delay"])
def test_notified_tickets_are_read_once_their_window_passed(
        tmp_path: Path, crm_name: str, delay: str, window: timedelta) -> None:
    """A notified ticket is not read one second before its intake window (30 min, or the
    program's delay less 5 min when shorter) and is read, and its survey queued before it
    is due, when the window has passed."""
    options: dict[str, Any] = {"coalescing": {**NO_WINDOWS, "intake": "30m"}, "delay": delay}
    gen = notified_loop(tmp_path, crm_name, **options)
    loop = next(gen)
    try:
        loop.close_ticket("ada@example.com", ago=timedelta(0))
        flush(loop)
        loop.rt.intake_kick.cancel()  # this test runs the intake itself
        loop.crm.reset_calls()
        loop.clock.advance(window - timedelta(seconds=1))
        early = loop.rt.intake()[loop.source]
        assert (early.notified, loop.crm.total_calls()) == (0, 0)
        loop.clock.advance(timedelta(seconds=1))
        late = loop.rt.intake()[loop.source]
        assert (late.notified, late.queued) == (1, 1)
    finally:
        gen.close()


def test_due_surveys_wait_for_company_and_share_one_reopen_check(
        tmp_path: Path, crm_name: str) -> None:
    """With a 5-minute sends window, two surveys due two minutes apart are not sent 4:59
    after the first was due, and both go 5:00 after it, with one reopen-check call."""
    for loop in windows_loop(tmp_path, crm_name, sends="5m"):
        loop.close_ticket("ada@example.com", ago=timedelta(0))
        loop.clock.advance(timedelta(minutes=2))
        loop.close_ticket("bo@example.com", first="Bo", ago=timedelta(0))
        assert loop.rt.poll()[loop.source].queued == 2
        loop.crm.reset_calls()
        loop.clock.advance(timedelta(hours=1, minutes=2, seconds=59))  # first due 4:59 ago
        early = loop.rt.dispatch()
        assert (early.sent, loop.crm.total_calls()) == (0, 0)
        loop.clock.advance(timedelta(seconds=1))
        late = loop.rt.dispatch()
        assert (late.sent, loop.crm.total_calls()) == (2, 1)


def test_a_full_batch_of_due_surveys_goes_alone_and_the_rest_waits_its_window(
        tmp_path: Path, crm_name: str) -> None:
    """130 surveys due at once with a 30-minute sends window: the 100 first in due order go
    at once with one reopen check (before, a second check of 30 went with them); the other
    30 wait until 30 minutes after their due time (not at 29:59) and go with one check."""
    for loop in windows_loop(tmp_path, crm_name, sends="30m"):
        for i in range(130):
            loop.close_ticket(f"p{i:03}@example.com", ago=timedelta(0))
        assert loop.rt.poll()[loop.source].queued == 130
        loop.clock.advance(timedelta(hours=1))
        loop.crm.reset_calls()
        first = loop.rt.dispatch()
        checks = reads_besides_pipelines(loop)
        loop.clock.advance(timedelta(minutes=29, seconds=59))
        early = loop.rt.dispatch()
        loop.clock.advance(timedelta(seconds=1))
        rest = loop.rt.dispatch()
        assert ((first.sent, checks), early.sent, (rest.sent, reads_besides_pipelines(loop)),
                len(loop.sink.messages)) == ((100, 1), 0, (30, 2), 130)


def test_the_safety_poll_leaves_a_noticed_ticket_to_the_intake(
        tmp_path: Path, crm_name: str) -> None:
    """The safety-net poll reads a ticket whose notice waits in the intake window: the poll
    spends its one search call and nothing more (no contacts read, nothing queued), its pace
    backs off (the notifications missed nothing), and the intake queues the survey once
    when the window ends: not at 29:59, at 30:00."""
    gen = notified_loop(tmp_path, crm_name, coalescing={**NO_WINDOWS, "intake": "30m"})
    loop = next(gen)
    try:
        base = loop.config.daemon.poll_every
        loop.close_ticket("ada@example.com", ago=timedelta(0))
        flush(loop)
        loop.rt.intake_kick.cancel()
        assert loop.rt.store.notified_backlog(loop.source, loop.clock.now).rows == 1
        loop.crm.reset_calls()
        polled = loop.rt.poll()[loop.source]
        pace = read_pace(loop.rt.store, loop.source, base)
        assert (polled.queued, polled.notified, polled.missed, reads_besides_pipelines(loop),
                pace.interval) == (0, 1, 0, 1, 2 * base)
        loop.clock.advance(timedelta(minutes=29, seconds=59))
        assert loop.rt.intake()[loop.source].notified == 0
        loop.clock.advance(timedelta(seconds=1))
        assert loop.rt.intake()[loop.source].queued == 1
        assert (loop.rt.poll()[loop.source].queued, loop.rt.intake()[loop.source].notified,
                loop.rt.store.counts().get("notified.pending", 0)) == (0, 0, 0)
    finally:
        gen.close()


def test_a_ticket_no_notice_named_waits_the_intake_window_from_its_closure(
        tmp_path: Path, crm_name: str) -> None:
    """The CRM lost the notification of a ticket closed 10 minutes ago: the safety poll
    counts it missed (its pace snaps back to the base interval), queues it for the intake
    as if notified at its closure, and the intake reads it 30 minutes after the closure:
    not at 29:59, at 30:00, its survey queued once and sent when due."""
    gen = notified_loop(tmp_path, crm_name, coalescing={**NO_WINDOWS, "intake": "30m"})
    loop = next(gen)
    try:
        base = loop.config.daemon.poll_every
        drop_next(loop, 2)  # HubSpot may send creation and close in two requests: lose both
        loop.close_ticket("bea@example.com", ago=timedelta(minutes=10))
        flush(loop)
        loop.rt.intake_kick.cancel()
        assert loop.rt.store.notified_backlog(loop.source, loop.clock.now).rows == 0
        polled = loop.rt.poll()[loop.source]
        pace = read_pace(loop.rt.store, loop.source, base)
        assert (polled.queued, polled.notified, polled.missed, pace.interval) == \
            (0, 0, 1, base)
        loop.clock.advance(timedelta(minutes=19, seconds=59))
        assert loop.rt.intake()[loop.source].notified == 0
        loop.clock.advance(timedelta(seconds=1))
        assert loop.rt.intake()[loop.source].queued == 1
        loop.clock.advance(timedelta(minutes=30))
        assert loop.rt.dispatch().sent == 1
    finally:
        gen.close()


@pytest.mark.parametrize(("after", "poll_queues"), [(timedelta(minutes=5) - timedelta(seconds=1),
                                                     1), (timedelta(minutes=5), 0)],
                         ids=["lease-live", "lease-over"])
def test_a_notice_a_dead_intake_holds_does_not_wait_for_its_lease(
        tmp_path: Path, crm_name: str, after: timedelta, poll_queues: int) -> None:
    """An intake claimed a ticket's notice and died (its 5-minute lease still runs): the
    safety poll reads the ticket and queues its survey itself (4:59 into the lease), counted
    missed so its pace stays at the base interval; once
    the lease is over (5:00) the poll leaves it to the intake, which then queues it. One
    survey either way."""
    gen = notified_loop(tmp_path, crm_name, coalescing={**NO_WINDOWS, "intake": "30m"})
    loop = next(gen)
    try:
        loop.close_ticket("ada@example.com", ago=timedelta(0))
        flush(loop)
        loop.rt.intake_kick.cancel()
        claim = loop.rt.store.claim_notified(loop.source, loop.clock.now, 500,
                                             timedelta(minutes=5))
        assert len(claim.ticket_ids) == 1  # the intake that never settles it
        loop.clock.advance(after)
        polled = loop.rt.poll()[loop.source]
        assert (polled.queued, polled.missed) == (poll_queues, poll_queues)
        loop.clock.advance(timedelta(minutes=30))
        loop.rt.intake()
        loop.clock.advance(timedelta(hours=1))
        assert loop.rt.dispatch().sent == 1
    finally:
        gen.close()


@pytest.mark.parametrize(("after", "polls"), [(timedelta(minutes=30, seconds=-7), False),
                                              (timedelta(minutes=30, seconds=-6), True)])
def test_without_notifications_the_poll_reads_once_per_intake_window(
        tmp_path: Path, crm_name: str, after: timedelta, polls: bool) -> None:
    """No notifications, a 30-minute intake window: after a poll that found a ticket the
    scheduler does not poll again before the window (less its 6-s tick slack) has passed,
    and does at once then; the ticket closed in between is read by that one call and its
    survey still goes at its closure + 1 h, not later."""
    for loop in windows_loop(tmp_path, crm_name, intake="30m"):
        loop.close_ticket("ada@example.com")
        assert loop.rt.scheduled_poll()[loop.source].queued == 1
        loop.clock.advance(timedelta(minutes=1))
        loop.close_ticket("bo@example.com", first="Bo", ago=timedelta(0))
        closed = loop.clock.now
        loop.clock.advance(after - timedelta(minutes=1))
        loop.crm.reset_calls()
        result = loop.rt.scheduled_poll()
        assert (loop.source in result, loop.crm.total_calls() > 0) == (polls, polls)
        if polls:
            assert result[loop.source].queued == 1
            loop.clock.now = closed + timedelta(hours=1)
            assert loop.rt.dispatch().sent == 2


def test_a_full_intake_round_goes_alone_and_the_rest_waits_its_window(
        tmp_path: Path, crm_name: str) -> None:
    """Notices none of them 30 minutes old: 430 wait (a round is 500); at 530 the intake
    reads the 500 that waited longest (one claim round: 5 ticket reads, on HubSpot one
    association read) and leaves 30 (before, 100 went at once, five rounds of 100 took five
    association reads, and a part-filled round went with each); those 30 go once their
    oldest waited the window: not at 29:59, at 30:00, in one read."""
    gen = notified_loop(tmp_path, crm_name, coalescing={**NO_WINDOWS, "intake": "30m"})
    loop = next(gen)
    try:
        drop_next(loop, 2 * (INTAKE_FULL + 30))  # a burst the web app would throttle:
        tickets = [loop.close_ticket(f"p{i}@example.com", ago=timedelta(0))[0]  # its ids are
                   for i in range(INTAKE_FULL + 30)]  # stored as the notices would store them
        flush(loop)
        loop.rt.store.queue_notified(loop.source, tickets[:430], loop.clock.now)
        loop.crm.reset_calls()
        assert (loop.rt.intake()[loop.source].notified, loop.crm.total_calls()) == (0, 0)
        loop.rt.store.queue_notified(loop.source, tickets[430:], loop.clock.now)
        assert loop.rt.store.notified_backlog(loop.source, loop.clock.now).rows == 530
        first = loop.rt.intake()[loop.source]
        reads = (loop.crm.calls(TICKET_READ[crm_name]), loop.crm.calls(ASSOCIATIONS))
        left = loop.rt.store.notified_backlog(loop.source, loop.clock.now).rows
        loop.clock.advance(timedelta(minutes=29, seconds=59))
        early = loop.rt.intake()[loop.source].notified
        loop.clock.advance(timedelta(seconds=1))
        rest = loop.rt.intake()[loop.source]
        associations = 1 if crm_name == "hubspot" else 0
        assert ((first.notified, first.queued, reads, left), early,
                (rest.notified, rest.queued, loop.crm.calls(TICKET_READ[crm_name]))) == \
            ((500, 500, (5, associations), 30), 0, (30, 30, 6))
        assert loop.rt.store.counts().get("notified.pending", 0) == 0
    finally:
        gen.close()
