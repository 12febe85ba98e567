"""Forget reaches what quotes the person in the CRM, on both CRMs, through the write-back
queue: the hook's note (HubSpot: archived; Zendesk: the private comment redacted), the
follow-up's text (HubSpot: task subject and body; Zendesk: the follow-up ticket's comments
redacted) and the HubSpot ticket properties carrying the comment. An agent's own note
stays. A CRM outage defers the erasure; a second forget finds nothing to do."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop

from closedloop.daemon.privacy import forget_person
from closedloop.daemon.store.answers import HOOK_SETTLE
from closedloop.integration.hubspot._erase import ERASED_SUBJECT
from closedloop.integration.retry import RetryPolicy

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
COMMENT = "Waited three days"
AGENT_NOTE = "Customer called back, all fine now"
HUBSPOT_OWNER = "71000002"  # one of the sandbox portal's owners
ERASE_PATH = {"hubspot": "/crm/v3/objects/notes/batch/archive",
              "zendesk": "/api/v2/comment_redactions/"}


@pytest.fixture
def loop_options() -> dict[str, Any]:
    return {"follow_up": {"categories": ["unsatisfied"], "deadline": "4h",
                          "question": "What went wrong?"}}


def _answered_with_a_comment(loop: Loop) -> tuple[str, str]:
    """A detractor's CSAT 1 with a comment, written back: note, follow-up, ticket props."""
    contact = loop.crm.create_contact("Ada@example.com")
    crm: Any = loop.crm
    at = loop.clock.now - timedelta(seconds=30)
    ticket = (crm.close_new_ticket(contact, crm.support, at, owner_id=HUBSPOT_OWNER)
              if loop.source == "hubspot" else crm.close_new_ticket(contact, crm.support, at))
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    body = loop.sink.messages[-1].get_body(("plain",))
    assert body is not None
    links = {int(s): p for p, s in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        page = web.post(links[1])
        web.post(str(page.url), data={"comment": COMMENT})
    loop.rt.write_back()
    loop.clock.advance(HOOK_SETTLE)
    loop.rt.write_back()
    return ticket, contact


def _agent_note(loop: Loop, ticket: str) -> None:
    """A note an agent wrote on the same ticket: not ClosedLoop's, never erased."""
    state: Any = loop.crm.state  # type: ignore[attr-defined]
    if loop.source == "hubspot":
        state.add_note({"hs_note_body": AGENT_NOTE, "hs_timestamp": "2026-11-18T09:00:00Z"},
                       [], [ticket])
    else:
        zd = state.tickets[int(ticket)]
        state._add_comment(zd, AGENT_NOTE, False, zd.assignee_id or zd.requester_id,
                           zd.created)


def _follow_up_texts(loop: Loop, ticket: str, contact: str) -> list[str]:
    """HubSpot: the task's subject and body; Zendesk: the follow-up ticket's comments."""
    state: Any = loop.crm.state  # type: ignore[attr-defined]
    if loop.source == "hubspot":
        [task] = state.tasks(ticket_id=ticket)
        return [task["hs_task_subject"] or "", task["hs_task_body"] or ""]
    [follow_up] = [t for t in state.tickets.values()
                   if t.external_id and str(t.requester_id) == contact]
    return [c["body"] for c in follow_up.comments]


def _quoted(texts: list[str]) -> bool:
    return any(COMMENT in t or "[cl-hook-" in t for t in texts)


def test_forget_erases_notes_follow_up_text_and_ticket_comment(loop: Loop) -> None:
    """Before forget the note, the follow-up and (HubSpot) the ticket's comment property
    quote the answer; one write-back cycle after forget none does, the agent's note is
    untouched, and a second forget queues nothing."""
    ticket, contact = _answered_with_a_comment(loop)
    _agent_note(loop, ticket)
    _, notes = loop.ticket_hooks(ticket)
    assert (_quoted(notes), _quoted(_follow_up_texts(loop, ticket, contact))) == (True, True)
    if loop.source == "hubspot":
        assert loop.crm.ticket_props(ticket)["cl_csat_comment"] == COMMENT

    result = forget_person(loop.rt.store, "ada@example.com", loop.clock.now)
    assert result.erasures == 1
    written = loop.rt.write_back()[loop.source]
    assert (written.erased, written.rejected, written.deferred) == (1, 0, 0)

    _, notes = loop.ticket_hooks(ticket)
    texts = _follow_up_texts(loop, ticket, contact)
    assert (_quoted(notes), _quoted(texts)) == (False, False)
    if loop.source == "hubspot":
        assert notes == [AGENT_NOTE]  # the hook's note is archived, the agent's stays
        assert texts == [ERASED_SUBJECT, ""]
        assert loop.crm.ticket_props(ticket) == {}
    else:
        assert [n for n in notes if "▇" not in n] == [AGENT_NOTE]
        assert len(notes) == 2  # the hook's comment is still there, redacted
        assert all(set(t) <= {"▇", "\n", " "} for t in texts)

    again = forget_person(loop.rt.store, "ada@example.com", loop.clock.now)
    assert (again.found, again.erasures) == (False, 0)


def test_a_crm_outage_defers_the_erasure_and_loses_nothing(loop: Loop) -> None:
    """The CRM answers 503 to the removal: forget itself succeeds, the contact is blanked,
    the erase row waits; the next cycle after the outage removes the note."""
    ticket, _ = _answered_with_a_comment(loop)
    adapter: Any = loop.rt.adapters[loop.source]
    adapter._retry = RetryPolicy(max_attempts=1)
    loop.crm.fail_next(1, 503, ERASE_PATH[loop.source])
    result = forget_person(loop.rt.store, "ada@example.com", loop.clock.now)
    assert result.erasures == 1
    first = loop.rt.write_back()[loop.source]
    assert (first.contacts, first.erased, first.deferred) == (1, 0, 1)
    assert _quoted(loop.ticket_hooks(ticket)[1])

    waiting = [(q.source, q.pending) for q in loop.rt.store.writeback_queues()]
    assert waiting == [(loop.source, 1)]  # the erasure waits in the queue

    loop.clock.advance(timedelta(minutes=2))  # past the first retry's backoff
    again = loop.rt.write_back()[loop.source]
    assert (again.erased, again.deferred) == (1, 0)
    assert not _quoted(loop.ticket_hooks(ticket)[1])
