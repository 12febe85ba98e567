"""Attribution at rating time and ticket-level feedback, end to end on each CRM."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from e2e_loop import Loop

from closedloop.daemon.store.answers import HOOK_SETTLE

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


def _links(loop: Loop, index: int) -> dict[int, str]:
    body = loop.sink.messages[index].get_body(("plain",))
    assert body is not None
    return {int(score): path for path, score in LINK.findall(body.get_content())}


def test_reassigned_ticket_keeps_owner_at_close_and_at_answer(loop: Loop) -> None:
    """Closed under owner A, handed to B before the customer answers: the response keeps A at
    close and B at answer (and exports both); on HubSpot the ticket gets score, category,
    comment and answer time in the write-back cycle that adds its note."""
    ticket, _ = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    owner_b, team_b = loop.crm.reassign(ticket)
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered = web.post(_links(loop, 0)[2])
        web.post(str(answered.url), data={"comment": "Waited three days"})
    loop.rt.write_back()
    assert loop.crm.ticket_props(ticket) == {}  # the hook waits HOOK_SETTLE, as the note does

    loop.clock.advance(HOOK_SETTLE)
    hooked = loop.rt.write_back()[loop.source]

    assert (hooked.tickets, hooked.attributed) == (1, 1)
    got = loop.rt.store.attributed_response(1)
    assert got is not None
    assert (got.owner_id_at_close, got.team_id_at_close, got.owner_id_at_answer,
            got.team_id_at_answer) == (loop.crm.owner, loop.crm.team, owner_b, team_b)
    [row] = list(loop.rt.store.export_responses())
    assert (row.owner_id, row.owner_id_at_answer, row.team_id_at_answer) == (
        loop.crm.owner, owner_b, team_b)
    props = loop.crm.ticket_props(ticket)
    if loop.source == "hubspot":
        answered_at = props.pop("cl_csat_answered_at")
        assert props == {"cl_csat_rating": "2", "cl_csat_category": "unsatisfied",
                         "cl_csat_comment": "Waited three days"}
        assert answered_at.startswith(got.response.answered_at.strftime("%Y-%m-%dT%H:%M"))
    else:
        assert props == {}
    assert len(loop.ticket_hooks(ticket)[1]) == 1  # the note, in the same cycle


def test_150_answers_cost_at_most_two_attribution_calls(loop: Loop) -> None:
    """150 answers about 150 tickets: the attribution read is at most 2 calls (100 per call);
    on HubSpot the ticket properties are at most 2 more (tickets batch update)."""
    for i in range(150):
        loop.close_ticket(f"c{i}@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 150
    for send_id in range(1, 151):
        loop.rt.store.record_response(send_id, 4, "satisfied", loop.clock.now)
    loop.rt.write_back()
    loop.clock.advance(HOOK_SETTLE)
    loop.crm.reset_calls()

    hooked = loop.rt.write_back()[loop.source]

    assert (hooked.tickets, hooked.attributed) == (150, 150)
    if loop.source == "hubspot":
        reads = loop.crm.calls("POST /crm/v3/objects/tickets/batch/read")
        updates = loop.crm.calls("POST /crm/v3/objects/tickets/batch/update")
        assert (reads, updates) == (2, 2)
    else:
        assert loop.crm.calls("GET /api/v2/tickets/show_many.json") == 2
