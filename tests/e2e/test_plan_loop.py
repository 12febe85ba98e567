"""`plan` on the whole loop, for each CRM: it foresees queued and not-yet-polled tickets,
writes and sends nothing, moves no cursor, and the real jobs then do what it said."""

from __future__ import annotations

from datetime import timedelta

import pytest
from e2e_loop import Loop

from closedloop.daemon.jobs.poll import CURSOR


@pytest.mark.parametrize("loop_options", [{"rules": {"global_cooldown": "7d"}}])
def test_plan_foresees_the_next_days_and_changes_nothing(loop: Loop) -> None:
    _, ada = loop.close_ticket("ada@example.com")
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(minutes=5))
    loop.close_ticket("ada@example.com", contact=ada, pipeline=loop.crm.billing)  # not polled
    loop.close_ticket("bob@example.com", first="Bob")  # not polled
    counts = loop.rt.store.counts()
    cursor = loop.rt.store.get_cursor(loop.source, CURSOR)
    calls = loop.crm.total_calls()

    plan = loop.rt.plan(7)

    assert [(e.action, e.reason, e.program, e.email, e.origin) for e in plan.entries] == [
        ("send", None, "support-csat", "ada@example.com", "queued"),
        ("send", None, "support-csat", "bob@example.com", "new_ticket"),
        ("skip", "global_cooldown", "billing-ces", "ada@example.com", "new_ticket"),
    ]
    assert loop.crm.total_calls() > calls  # it did read the CRM for the new tickets ...
    assert loop.rt.store.counts() == counts  # ... and wrote nothing,
    assert loop.rt.store.get_cursor(loop.source, CURSOR) == cursor  # moved no cursor,
    assert loop.sink.messages == []  # and sent nothing.

    # The real jobs do what the plan said.
    assert loop.rt.poll()[loop.source].queued == 2
    loop.clock.advance(timedelta(hours=2))
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.skipped)) == (2, {"global_cooldown": 1})
    assert sorted(m["To"] for m in loop.sink.messages) == ["ada@example.com", "bob@example.com"]
