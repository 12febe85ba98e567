"""The whole "close the loop" promise end to end, for each CRM: one unhappy customer's answer
on the real survey pages becomes, within one write-back cycle (and the alerts and webhooks
jobs of that same cycle), a follow-up in the sandbox CRM (HubSpot task / Zendesk follow-up
ticket), a Slack-format message at a local receiver and signed webhooks (`response.created`,
`follow_up.created`) at another, verified with the `standardwebhooks` library."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop
from slack_receiver import Slack
from webhook_receiver import SECRET, receiver

from closedloop.daemon.actions.webhooks import Endpoint, WebhookDeliverer
from closedloop.daemon.config import WEBHOOK_EVENTS

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
HUBSPOT_OWNER = "71000002"  # one of the sandbox portal's owners


@pytest.fixture
def loop_options(slack: Slack) -> dict[str, Any]:
    """CSAT unsatisfied answers get a follow-up and a Slack alert."""
    return {"follow_up": {"categories": ["unsatisfied"], "deadline": "4h"},
            "alerts": [{"name": "unhappy", "categories": ["unsatisfied"], "channel": "slack",
                        "url": f"{slack.url}/ok"}]}


def _follow_ups(loop: Loop, ticket: str, contact: str) -> list[tuple[str, str]]:
    """(id, subject) of each follow-up the sandbox holds for this ticket / customer."""
    state: Any = loop.crm.state  # type: ignore[attr-defined]
    if loop.source == "hubspot":
        return [(t["id"], t["hs_task_subject"]) for t in state.tasks(ticket_id=ticket)]
    return [(str(t.id), t.subject) for t in list(state.tickets.values())
            if t.external_id and str(t.requester_id) == contact]


def test_a_detractor_closes_the_loop_within_one_cycle(loop: Loop, slack: Slack) -> None:
    """Close → survey → click 1 + comment; one cycle later (clock +1 min: write-back, alerts,
    webhooks): the contact has the answer, the CRM has exactly one follow-up for it, Slack
    one Block Kit message quoting score and comment, and the webhook receiver verified
    response.created, comment.added and follow_up.created (naming the CRM's follow-up id),
    each once; nothing refused, nothing dead."""
    crm: Any = loop.crm
    contact = crm.create_contact("ada@example.com")
    closed_at = loop.clock.now - timedelta(seconds=30)
    ticket = (crm.close_new_ticket(contact, crm.support, closed_at, owner_id=HUBSPOT_OWNER)
              if loop.source == "hubspot" else crm.close_new_ticket(contact, crm.support,
                                                                    closed_at))
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    body = loop.sink.messages[0].get_body(("plain",))
    assert body is not None
    links = {int(score): url for url, score in LINK.findall(body.get_content())}

    with receiver() as (url, seen):
        # The receiver checks signature times against the wall clock (time-machine's).
        loop.rt.webhooks = WebhookDeliverer(
            loop.rt.store, [Endpoint("tools", url, SECRET, frozenset(WEBHOOK_EVENTS))],
            lambda: datetime.now(UTC))
        with httpx.Client(follow_redirects=True, timeout=10) as web:
            answered = web.post(links[1])
            web.post(str(answered.url), data={"comment": "Nobody answered for a week"})

        loop.clock.advance(timedelta(minutes=1))  # one write-back cycle
        written = loop.rt.write_back()[loop.source]
        alerted = loop.rt.alerts()
        posted = loop.rt.deliver_webhooks()

    assert written.contacts == 1
    assert loop.prop(contact, "cl_csat_last_rating") == "1"
    [(follow_up_id, subject)] = _follow_ups(loop, ticket, contact)
    assert subject.startswith(f"Follow up: CSAT 1 (unsatisfied) on ticket #{ticket}")

    assert (alerted.delivered, alerted.dead) == (1, 0)
    [message] = slack.messages
    assert message["blocks"][1]["text"]["text"] == "New answer to support-csat: 1 (unsatisfied)"
    assert "*Comment*\nNobody answered for a week" in [
        f["text"] for f in message["blocks"][2]["fields"]]

    assert (posted.delivered, posted.dead) == (4, 0)
    assert (seen.bad_signatures, seen.invalid_bodies) == (0, [])
    assert sorted(b["type"] for b in seen.accepted) == [
        "comment.added", "follow_up.created", "response.created", "survey.sent"]
    assert len(set(seen.accepted_ids())) == 4
    events = {b["type"]: b["data"] for b in seen.accepted}
    assert (events["response.created"]["score"], events["response.created"]["ticket_id"]) == (
        1, ticket)
    assert events["follow_up.created"]["follow_up"] == {"id": follow_up_id, "crm": loop.source}
    counts = loop.rt.store.counts()
    assert (counts["follow_ups.done"], counts["alerts.delivered"],
            counts["webhooks.tools.delivered"]) == (1, 1, 4)
