"""NPS on a cadence, end to end on each sandbox CRM (a HubSpot list, Zendesk users by tag).

The real adapter reads the audience over HTTP, the real store queues the rows, dispatch mails
them through SMTP; the test's clock walks day by day through two 3-month cycles.
"""

from __future__ import annotations

import math
from datetime import timedelta

from e2e_loop import Loop

from closedloop.daemon.jobs.cadence import cycle_at, cycles_between
from closedloop.daemon.store import SendRecord
from closedloop.daemon.store.records import send_record
from closedloop.daemon.store.sends import SENDS

DAY = timedelta(days=1)


def nps_rows(loop: Loop) -> list[SendRecord]:
    with loop.rt.store.engine.connect() as conn:
        found = conn.execute(SENDS.select().where(SENDS.c.program == "nps")
                             .order_by(SENDS.c.id)).mappings().all()
    return [send_record(r) for r in found]


def of(loop: Loop, contact: str, labels: list[str]) -> list[tuple[str, str, str | None]]:
    """(cycle label, status, skip reason) of a contact's NPS rows in these cycles, in order."""
    return sorted((label, r.status, r.skip_reason) for r in nps_rows(loop)
                  if r.contact_id == contact and (label := r.idem_key.rsplit(":", 1)[1]) in labels)


def mails_to(loop: Loop, address: str) -> int:
    return sum(1 for m in loop.sink.messages if str(m["To"]) == address)


def test_members_are_surveyed_once_per_cycle_by_the_rules(loop: Loop) -> None:
    """Two cycles, day by day: each long-time member is mailed once per cycle; a member who
    joins after the first pass waits for the second cycle; one who leaves before their send
    is skipped "left_audience"; no address → "no_email"; a new customer is asked only once
    a customer for 30 days at the send time."""
    start = loop.clock.now
    long_ago = start - timedelta(days=400)
    regulars = {f"m{i}@example.com": loop.crm.create_member(f"m{i}@example.com", f"M{i}",
                                                             long_ago) for i in range(4)}
    no_email = loop.crm.create_member(None, "Nomail", long_ago)
    newbie_since = start - DAY
    newbie = loop.crm.create_member("new@example.com", "New", newbie_since)
    leaver = loop.crm.create_member("leaver@example.com", "Leaves", long_ago)
    audience = loop.crm.make_audience(
        "nps-vip", [*regulars.values(), no_email, newbie, leaver])
    loop.add_program(name="nps", type="nps", company="Acme", every_months=3,
                     customer_for="30d", **audience)
    first = cycle_at(start, 3)

    loop.rt.cadence()  # the program's first pass: its members make the first cycle
    loop.clock.advance(timedelta(minutes=1))
    late = loop.crm.create_member("late@example.com", "Late", long_ago)
    loop.crm.join_audience(audience, late)
    # first seen at the next pass (now): theirs is the first cycle that starts after it
    late_cycle = cycle_at(loop.clock.now, 3)
    if late_cycle.start < loop.clock.now:
        late_cycle = cycle_at(late_cycle.end, 3)
    cycles = [c.label for c in cycles_between(start, late_cycle.start, 3)]
    left = False
    while loop.clock.now < late_cycle.end:
        loop.rt.cadence()
        if not left and any(r.contact_id == leaver and r.status == "pending"
                            for r in nps_rows(loop)):
            loop.crm.leave_audience(audience, leaver)  # after the row was queued
            loop.clock.advance(timedelta(minutes=1))
            loop.rt.cadence()
            left = True
        loop.rt.dispatch()
        loop.clock.advance(DAY)

    assert len(cycles) in (2, 3)  # 3 when the test started in a cycle's last minute
    for address, contact in regulars.items():
        assert of(loop, contact, cycles) == [(c, "sent", None) for c in cycles], address
        assert mails_to(loop, address) == len(cycles)
    assert of(loop, late, cycles) == [(late_cycle.label, "sent", None)]
    assert mails_to(loop, "late@example.com") == 1
    assert of(loop, leaver, cycles) == [(first.label, "skipped", "left_audience")]
    assert mails_to(loop, "leaver@example.com") == 0
    assert of(loop, no_email, cycles) == [(c, "skipped", "no_email") for c in cycles]
    for row in (r for r in nps_rows(loop) if r.contact_id == newbie and r.status != "pending"):
        old_enough = newbie_since + timedelta(days=30) <= row.due_at
        assert (row.status, row.skip_reason) == (
            ("sent", None) if old_enough else ("skipped", "new_customer"))
    first_cycle = [r for r in nps_rows(loop) if r.idem_key.endswith(first.label)]
    assert all(start <= r.due_at < first.end for r in first_cycle)
    assert all(r.sent_at is not None and r.sent_at - r.due_at < DAY
               for r in nps_rows(loop) if r.status == "sent")
    counts = loop.rt.store.counts()
    assert counts["skipped.left_audience"] == 1
    assert counts["skipped.no_email"] >= len(cycles)


def test_a_pass_costs_a_few_calls_per_hundred_members(loop: Loop) -> None:
    """One pass over 600 members: a handful of paged reads, the same on every run, no call
    per member (HubSpot: memberships by 250 + contacts by 100; Zendesk: users by 100)."""
    since = loop.clock.now - timedelta(days=400)
    people = [loop.crm.create_member(f"p{i}@example.com", f"P{i}", since) for i in range(600)]
    audience = loop.crm.make_audience("nps-all", people)
    loop.add_program(name="nps", type="nps", company="Acme", every_months=6, **audience)
    costs = []
    for _ in range(2):
        loop.crm.reset_calls()
        [result] = loop.rt.cadence().values()
        costs.append(loop.crm.total_calls())
        assert result.members == 600
    assert costs[0] == costs[1]
    assert costs[0] <= math.ceil(600 / 100) + math.ceil(600 / 250) + 1


def test_the_plan_names_the_members_the_next_weeks_then_survey(loop: Loop) -> None:
    """`closedloop plan` for 20 days lists the cadence's sends and skips (writing nothing);
    walking those 20 days then sends to exactly the planned people."""
    since = loop.clock.now - timedelta(days=400)
    people = {loop.crm.create_member(f"q{i}@example.com", f"Q{i}", since): f"q{i}@example.com"
              for i in range(30)}
    nomail = loop.crm.create_member(None, "Nomail", since)
    audience = loop.crm.make_audience("nps-plan", [*people, nomail])
    loop.add_program(name="nps", type="nps", company="Acme", every_months=3, **audience)
    loop.rt.cadence()  # the program's first pass
    loop.clock.advance(timedelta(minutes=1))
    end = loop.clock.now + 20 * DAY
    plan = loop.rt.plan(days=20)
    planned = {e.contact_id for e in plan.entries if e.program == "nps" and e.action == "send"}
    assert planned
    assert all(e.origin in {"cadence", "queued"} for e in plan.entries if e.program == "nps")
    while loop.clock.now <= end:
        loop.rt.cadence()
        loop.rt.dispatch()
        loop.clock.advance(timedelta(hours=6))
    sent = {r.contact_id for r in nps_rows(loop) if r.status == "sent" and r.sent_at
            and r.sent_at <= end}
    assert sent == planned
    skipped = {e.contact_id for e in plan.entries if e.reason == "no_email"}
    assert skipped <= {nomail}
