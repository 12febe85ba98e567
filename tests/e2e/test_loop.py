"""The whole loop, for each CRM: a ticket closes, a survey goes out, the answer lands."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from e2e_loop import Loop

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


def links_in(loop: Loop, index: int) -> dict[int, str]:
    body = loop.sink.messages[index].get_body(("plain",))
    assert body is not None
    return {int(score): path for path, score in LINK.findall(body.get_content())}


def test_ticket_to_contact_properties(loop: Loop) -> None:
    """Close → poll → wait for the delay → mail → click + comment → write-back, end to end."""
    ticket, contact = loop.close_ticket("ada@example.com")
    _, no_mail_contact = loop.close_ticket(None, first="Bob")

    polled = loop.rt.poll()[loop.source]
    assert (polled.queued, dict(polled.skipped)) == (1, {"no_email": 1})

    assert loop.rt.dispatch().sent == 0  # the program's delay has not passed
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    assert [m["To"] for m in loop.sink.messages] == ["ada@example.com"]

    links = links_in(loop, 0)
    assert sorted(links) == [1, 2, 3, 4, 5]
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        assert web.get(links[2]).status_code == 200  # a mail scanner: records nothing
        assert loop.rt.store.counts().get("responses", 0) == 0
        answered = web.post(links[4])
        assert answered.status_code == 200  # followed the redirect to the comment page
        web.post(str(answered.url), data={"comment": "Fixed in one reply, thanks"})

    written = loop.rt.write_back()[loop.source]
    assert written.contacts == 1
    props = loop.props(contact)
    assert props["cl_csat_last_rating"] == "4"
    assert props["cl_csat_last_comment"] == "Fixed in one reply, thanks"
    assert props["cl_csat_last_category"] == "satisfied"
    assert loop.prop(contact, "cl_csat_last_answered")  # a date-time, or a date in Zendesk
    assert loop.prop(contact, "cl_csat_last_sent")
    assert not any(v for k, v in loop.props(no_mail_contact).items()
                   if k.startswith("cl_"))

    send = loop.rt.store.get_send(1)
    assert send is not None
    assert (send.ticket_id, send.owner_id, send.team_id) == (ticket, loop.crm.owner, loop.crm.team)


def test_api_economy_and_idempotent_polls(loop: Loop) -> None:
    """40 tickets cost a handful of calls; polling again reads nothing new and queues nothing."""
    for i in range(40):
        loop.close_ticket(f"customer{i}@example.com")
    first = loop.rt.poll()[loop.source]
    assert first.queued == 40
    calls_after_first = loop.crm.total_calls()
    assert calls_after_first <= 4  # pipelines, one search page, one association read, contacts

    again = loop.rt.poll()[loop.source]
    assert again.queued == 0
    assert loop.rt.store.counts()["sends.pending"] == 40

    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 40
    loop.crm.reset_calls()
    loop.rt.write_back()
    assert loop.crm.calls(loop.crm.contact_write_key) == 1


def test_latest_answer_wins_and_write_back_survives_errors(loop: Loop) -> None:
    """Two clicks → the second is written; a 503 then a 429 delay the write, lose nothing."""
    _, contact = loop.close_ticket("eve@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    loop.rt.dispatch()
    links = links_in(loop, 0)
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        web.post(links[2])
        web.post(links[5])
    assert loop.rt.store.counts()["responses"] == 1

    loop.crm.fail_next(2, 503, loop.crm.contact_write)
    deferred = loop.rt.write_back()
    assert loop.source not in deferred or deferred[loop.source].rows == 0
    assert loop.props(contact).get("cl_csat_last_rating") in (None, "")
    assert loop.rt.store.counts()["writebacks.pending"] >= 1

    loop.rt.write_back()  # not yet due: the rows wait for their retry time
    assert loop.props(contact).get("cl_csat_last_rating") in (None, "")
    loop.crm.fail_next(1, 429, loop.crm.contact_write,
                           retry_after=0.1)
    loop.clock.advance(timedelta(hours=2))
    loop.rt.write_back()
    assert loop.props(contact)["cl_csat_last_rating"] == "5"
    assert loop.props(contact)["cl_csat_last_category"] == "satisfied"
    assert loop.rt.store.counts().get("writebacks.pending", 0) == 0


def test_suppressed_contact_is_never_mailed(loop: Loop) -> None:
    """An unsubscribed address is skipped at dispatch with the reason recorded."""
    loop.close_ticket("gone@example.com")
    loop.rt.poll()
    loop.rt.store.suppress("Gone@Example.com ", "unsubscribed", loop.clock.now)
    loop.clock.advance(timedelta(hours=1))
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.skipped)) == (0, {"suppressed": 1})
    assert loop.sink.messages == []
    assert loop.rt.store.counts()["skipped.suppressed"] == 1


@pytest.mark.parametrize("loop_options", [{"coalesce": "0s"}])  # two surveys, 2 h apart
def test_late_answer_to_an_older_survey_does_not_overwrite_a_newer_one(loop: Loop) -> None:
    """A answered, then B; then a late comment and re-click on A: the record keeps B."""
    _, contact = loop.close_ticket("kim@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    loop.rt.dispatch()  # survey A
    loop.clock.advance(timedelta(hours=1))
    loop.close_ticket(None, contact=contact)
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    loop.rt.dispatch()  # survey B
    survey_a, survey_b = links_in(loop, 0), links_in(loop, 1)
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered_a = web.post(survey_a[5])
        loop.rt.write_back()
        loop.clock.advance(timedelta(minutes=10))
        answered_b = web.post(survey_b[1])
        web.post(str(answered_b.url), data={"comment": "Nobody called back"})
        loop.clock.advance(timedelta(hours=1))
        web.post(str(answered_a.url), data={"comment": "Great the first time"})
        web.post(survey_a[4])
    loop.rt.write_back()
    props = loop.props(contact)
    b_send = loop.rt.store.get_send(2)
    assert b_send is not None
    assert b_send.sent_at is not None
    assert (props["cl_csat_last_rating"], props["cl_csat_last_comment"]) == (
        "1", "Nobody called back")
    assert props["cl_csat_last_category"] == "unsatisfied"
    sent = loop.prop(contact, "cl_csat_last_sent")  # HubSpot: date-time; Zendesk: date
    assert b_send.sent_at.strftime("%Y-%m-%dT%H:%M").startswith(sent[:16])
    assert loop.rt.store.counts()["responses"] == 2  # A's answer is kept, just not on top


def test_a_batch_the_crm_refuses_is_split_to_find_the_bad_record(loop: Loop) -> None:
    """A 400 for the whole batch: halves are retried, only the refused contact is rejected."""
    contacts = [loop.close_ticket(f"c{i}@example.com")[1] for i in range(4)]
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    loop.rt.dispatch()
    loop.crm.reset_calls()
    loop.crm.fail_next(3, 400, loop.crm.contact_write)
    result = loop.rt.write_back()[loop.source]
    assert (result.contacts, result.rejected) == (3, 1)
    assert loop.crm.calls(loop.crm.contact_write_key) == 5
    written = [bool(loop.prop(c, "cl_csat_last_sent"))
               for c in contacts]
    assert sorted(written) == [False, True, True, True]
    assert loop.rt.store.counts()["writebacks.rejected"] == 1
