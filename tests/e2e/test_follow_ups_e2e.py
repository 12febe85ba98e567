"""Follow-up work end to end, on both CRMs: a detractor's answer becomes one HubSpot task /
one Zendesk follow-up ticket within one write-back cycle; a re-score updates or adds to it;
a create whose answer is lost (applied, answer never received) still leaves exactly one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop

from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox._faults import FaultRates

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
CREATE_PATH = {"hubspot": "/crm/v3/objects/tasks/batch/create",
               "zendesk": "/api/v2/tickets/create_many"}
HUBSPOT_OWNER = "71000002"  # one of the sandbox portal's owners


@dataclass
class Made:
    """A follow-up as the CRM holds it, in CRM-neutral words."""

    id: str
    subject: str
    texts: list[str]  # HubSpot: the task body; Zendesk: the comments, oldest first
    owner: str | None
    contacts: list[str]
    public: bool = False


@pytest.fixture
def loop_options() -> dict[str, Any]:
    return {"follow_up": {"categories": ["unsatisfied"], "deadline": "4h",
                          "question": "What went wrong?",
                          "ticket_url": "https://crm.example/tickets/{ticket_id}"}}


def follow_ups(loop: Loop, ticket: str, contact: str) -> list[Made]:
    state: Any = loop.crm.state  # type: ignore[attr-defined]
    if loop.source == "hubspot":
        return [Made(t["id"], t["hs_task_subject"], [t["hs_task_body"]],
                     t.get("hubspot_owner_id"), t["contact_ids"])
                for t in state.tasks(ticket_id=ticket)]
    return [Made(str(t.id), t.subject, [c["body"] for c in t.comments],
                 str(t.assignee_id) if t.assignee_id else None, [str(t.requester_id)],
                 public=any(c["public"] for c in t.comments))
            for t in state.tickets.values()
            if t.external_id and str(t.requester_id) == contact]


def _answer(loop: Loop, score: int, comment: str | None = None) -> None:
    body = loop.sink.messages[-1].get_body(("plain",))
    assert body is not None
    links = {int(s): p for p, s in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        page = web.post(links[score])
        if comment:
            web.post(str(page.url), data={"comment": comment})


def _surveyed(loop: Loop, owner: str = HUBSPOT_OWNER) -> tuple[str, str]:
    contact = loop.crm.create_contact("ada@example.com")
    crm: Any = loop.crm
    at = loop.clock.now - timedelta(seconds=30)
    ticket = (crm.close_new_ticket(contact, crm.support, at, owner_id=owner)
              if loop.source == "hubspot" else crm.close_new_ticket(contact, crm.support, at))
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    return ticket, contact


def test_detractor_gets_one_follow_up_and_a_rescore_updates_it(loop: Loop) -> None:
    """CSAT 1 with a comment → one task / follow-up ticket for the customer, quoting score,
    comment, survey and the ticket link, private on Zendesk; HubSpot: the ticket's owner and
    a due date 4 business hours on. A re-score to 2 updates it (HubSpot: subject and body;
    Zendesk: a second private comment): never a second follow-up."""
    ticket, contact = _surveyed(loop)
    _answer(loop, 1, "Waited three days")
    loop.rt.write_back()
    [made] = follow_ups(loop, ticket, contact)
    assert [contact] == made.contacts
    assert made.subject.startswith(f"Follow up: CSAT 1 (unsatisfied) on ticket #{ticket}")
    assert "Waited three days" in made.texts[0]
    assert "support-csat" in made.texts[0]
    assert f"https://crm.example/tickets/{ticket}" in made.texts[0]
    assert made.public is False
    if loop.source == "hubspot":
        task = loop.crm.state.tasks(ticket_id=ticket)[0]  # type: ignore[attr-defined]
        assert made.owner == HUBSPOT_OWNER
        assert (loop.clock.now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M") == \
            task["hs_timestamp"][:16]  # Wednesday 10:30 UTC, inside 09:00-17:00 UTC
    else:
        zd = loop.crm.state.tickets[int(made.id)]  # type: ignore[attr-defined]
        assert zd.tags == ["closedloop_follow_up"]
        assert int(loop.crm.group) == zd.group_id  # type: ignore[attr-defined]
        assert zd.followup_source_id is None  # the original is solved, not closed
    assert loop.rt.store.counts()["follow_ups.done"] == 1

    _answer(loop, 2)
    loop.rt.write_back()
    [again] = follow_ups(loop, ticket, contact)
    assert made.id == again.id
    if loop.source == "hubspot":
        assert again.subject.startswith("Follow up: CSAT 2 (unsatisfied)")
    else:
        assert len(again.texts) == 2
        assert "CSAT answer 2 (unsatisfied)" in again.texts[1]


def test_a_happy_answer_makes_no_follow_up(loop: Loop) -> None:
    """CSAT 5 is not in the rule: nothing in the CRM, the row is settled as not_needed."""
    ticket, contact = _surveyed(loop)
    _answer(loop, 5)
    loop.rt.write_back()
    assert follow_ups(loop, ticket, contact) == []
    assert loop.rt.store.counts()["follow_ups.not_needed"] == 1


def test_lost_create_answer_leaves_exactly_one_follow_up(loop: Loop) -> None:
    """Every create is applied and its answer lost (a 504); the run cannot commit it (as if
    the daemon died before its commit), the next run looks the external id up and keeps
    that record: one task / ticket, row done."""
    ticket, contact = _surveyed(loop)
    loop.crm.sandbox.set_faults(  # type: ignore[attr-defined]
        FaultRates(lost=1.0, paths=(CREATE_PATH[loop.source],)))
    adapter: Any = loop.rt.adapters[loop.source]
    adapter._retry = RetryPolicy(max_attempts=1)
    _answer(loop, 1)
    loop.rt.write_back()
    assert len(follow_ups(loop, ticket, contact)) == 1
    assert loop.rt.store.counts()["follow_ups.pending"] == 1
    loop.crm.sandbox.set_faults(None)  # type: ignore[attr-defined]
    loop.clock.advance(timedelta(minutes=5))
    loop.rt.write_back()
    assert len(follow_ups(loop, ticket, contact)) == 1
    assert loop.rt.store.counts()["follow_ups.done"] == 1


@pytest.mark.parametrize("crm_name", ["hubspot"])
def test_owner_gone_is_refused_with_a_reason_and_counted(loop: Loop) -> None:
    """A ticket owner HubSpot no longer knows refuses the task: no task, the row is
    'rejected' with HubSpot's reason in last_error, the contact write went through."""
    ticket, contact = _surveyed(loop, owner="77")
    _answer(loop, 1)
    result = loop.rt.write_back()["hubspot"]
    assert result.contacts == 1
    assert follow_ups(loop, ticket, contact) == []
    assert loop.rt.store.counts()["follow_ups.rejected"] == 1
    [row] = loop.rt.store.follow_up_rows()
    assert "hubspot_owner_id" in row["last_error"]


def test_a_contact_write_refused_401_pauses_and_the_follow_up_still_ends_once(
        loop: Loop) -> None:
    """The follow-ups start before the contact write; that write is refused (401) and the
    source pauses, so the follow-up job cannot end as usual: its row is still deferred (one
    attempt, claim let go), not left held. Zendesk's create_many had been submitted ahead
    (1 follow-up ticket), HubSpot creates only at the end (none yet). Once the token works
    again, the row is looked up before any create: one follow-up either way."""
    ticket, contact = _surveyed(loop)
    _answer(loop, 1)
    loop.crm.fail_next(1, 401, loop.crm.contact_write)
    loop.rt.write_back()
    assert loop.rt.store.source_states()[loop.source].state == "paused"
    [row] = loop.rt.store.follow_up_rows()
    assert (row["status"], row["attempts"], row["claim_token"]) == ("pending", 1, None)
    ahead = 1 if loop.source == "zendesk" else 0
    assert len(follow_ups(loop, ticket, contact)) == ahead

    loop.clock.advance(timedelta(minutes=10))
    loop.rt.write_back()  # the probe: the contact write goes through, the source resumes
    loop.rt.write_back()
    assert len(follow_ups(loop, ticket, contact)) == 1
    assert loop.rt.store.counts()["follow_ups.done"] == 1
