"""Answer hooks end to end, for each CRM: tags (Zendesk) and a private note on the ticket."""

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


def test_answer_reaches_the_ticket_once_settled_and_a_rescore_adds_its_tag(loop: Loop) -> None:
    """Click 2 + comment → after HOOK_SETTLE one note with both (and, on Zendesk, the
    closedloop_csat_bad tag); a re-score to 5 adds closedloop_csat_good and keeps the bad tag."""
    ticket, _ = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    links = _links(loop, 0)
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered = web.post(links[2])
        loop.clock.advance(timedelta(minutes=1))
        web.post(str(answered.url), data={"comment": "Waited three days"})
    first = loop.rt.write_back()[loop.source]
    assert (first.contacts, first.tickets) == (1, 0)
    assert loop.ticket_hooks(ticket) == ([], [])

    loop.clock.advance(HOOK_SETTLE)
    assert loop.rt.write_back()[loop.source].tickets == 1
    tags, notes = loop.ticket_hooks(ticket)
    assert len(notes) == 1
    assert "CSAT answer 2/5 (unsatisfied), program support-csat." in notes[0]
    assert "Waited three days" in notes[0]
    expected_tags = ["closedloop_csat_bad"] if loop.source == "zendesk" else []
    assert [t for t in tags if t.startswith("closedloop_")] == expected_tags

    with httpx.Client(follow_redirects=True, timeout=10) as web:
        web.post(links[5])
    loop.clock.advance(HOOK_SETTLE)
    loop.rt.write_back()
    tags, notes = loop.ticket_hooks(ticket)
    assert len(notes) == 2
    assert "CSAT answer 5/5 (satisfied)" in notes[1]
    if loop.source == "zendesk":
        assert [t for t in tags if t.startswith("closedloop_")] == [
            "closedloop_csat_bad", "closedloop_csat_good"]
    assert loop.rt.store.counts()["hooks.done"] == 2
