"""Outbound webhooks end to end, for each CRM: an unhappy customer's click and comment on the
real survey pages reach a real receiver (signatures checked with `standardwebhooks`) as
`response.created` and `comment.added` within one write-back cycle."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from e2e_loop import Loop
from webhook_receiver import SECRET, receiver

from closedloop.daemon.actions.webhooks import Endpoint, WebhookDeliverer

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
ANSWERS = frozenset({"response.created", "response.updated", "comment.added"})


def _wall() -> datetime:
    """The receiver checks signature timestamps against the wall clock (time-machine's)."""
    return datetime.now(UTC)


def test_an_unhappy_answer_reaches_the_webhook_within_one_cycle(loop: Loop) -> None:
    """CSAT 1 + comment on the real pages → one write-back run and one webhook run later the
    receiver holds response.created then comment.added, verified and schema-valid, quoting
    the score, the comment and the ticket; the CRM got its write-back in the same cycle."""
    ticket, contact = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    body = loop.sink.messages[0].get_body(("plain",))
    assert body is not None
    links = {int(score): path for path, score in LINK.findall(body.get_content())}
    with receiver() as (url, seen):
        loop.rt.webhooks = WebhookDeliverer(
            loop.rt.store, [Endpoint("crm-sync", url, SECRET, ANSWERS, None, 5.0)], _wall)
        with httpx.Client(follow_redirects=True, timeout=10) as web:
            answered = web.post(links[1])
            web.post(str(answered.url), data={"comment": "Nobody called back"})
        written = loop.rt.write_back()[loop.source]
        delivered = loop.rt.deliver_webhooks()
    assert (written.contacts, delivered.delivered, delivered.dead) == (1, 2, 0)
    assert (seen.bad_signatures, seen.invalid_bodies) == (0, [])
    assert [b["type"] for b in seen.accepted] == ["response.created", "comment.added"]
    created, comment = (b["data"] for b in seen.accepted)
    assert (created["score"], created["category"], created["comment"]) == (
        1, "unsatisfied", None)
    assert (comment["comment"], comment["ticket_id"], comment["contact"]["id"],
            comment["source"]) == ("Nobody called back", ticket, contact, loop.source)
    assert loop.prop(contact, "cl_csat_last_rating") == "1"
    counts = loop.rt.store.counts()
    assert [counts[f"webhooks.crm-sync.{s}"] for s in ("pending", "delivered", "dead")] == [
        0, 2, 0]
