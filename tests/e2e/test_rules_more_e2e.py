"""Issue 4 rules that had only unit tests, now end to end on each CRM's sandbox (review):
per-program cooldown, deterministic sampling, send days in the contact's zone, two reminders
stopped by an answer, and the unsubscribe/snooze choice reaching the CRM record."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from e2e_loop import E2E_START, Loop

from closedloop.daemon.rules import sampled_in

ANSWER = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FAR_EAST = "Pacific/Kiritimati"  # UTC+14: its weekday is often not the UTC one


def dispatched(loop: Loop) -> tuple[int, dict[str, int]]:
    result = loop.rt.dispatch()
    return result.sent, dict(result.skipped)


@pytest.mark.parametrize("loop_options", [{"cooldown": "30d"}])
def test_program_cooldown_blocks_only_its_own_program(loop: Loop) -> None:
    """CSAT with a 30-day cooldown: a second support ticket two days later is skipped
    'program_cooldown'; a billing (CES) ticket the same day still goes (global cooldown 0)."""
    _, contact = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert dispatched(loop) == (1, {})
    loop.clock.advance(timedelta(days=2))
    loop.close_ticket(None, contact=contact)
    loop.close_ticket(None, contact=contact, pipeline=loop.crm.billing)
    assert loop.rt.poll()[loop.source].queued == 2
    loop.clock.advance(timedelta(hours=2))
    assert dispatched(loop) == (1, {"program_cooldown": 1})
    assert loop.rt.store.counts()["skipped.program_cooldown"] == 1


@pytest.mark.parametrize("loop_options", [{"sample": 50}])
def test_sampling_is_the_predicted_deterministic_half(loop: Loop) -> None:
    """Twelve people, a 50 % sample: exactly those the hash puts inside are queued and mailed;
    the others are stored 'sampled_out'."""
    people = [f"p{i}@example.com" for i in range(12)]
    tickets = {email: loop.close_ticket(email)[0] for email in people}
    inside = {e for e, t in tickets.items() if sampled_in("support-csat", e, t, 50)}
    assert 0 < len(inside) < len(people)  # the draw really splits this crowd
    polled = loop.rt.poll()[loop.source]
    assert (polled.queued, dict(polled.skipped)) == (
        len(inside), {"sampled_out": len(people) - len(inside)})
    loop.clock.advance(timedelta(hours=1))
    assert dispatched(loop) == (len(inside), {})
    assert {m["To"] for m in loop.sink.messages} == inside


def _off_today() -> dict[str, object]:
    """Send days without the contact-local weekday the survey falls due on (the loop starts
    at the fixed E2E_START)."""
    local = (E2E_START + timedelta(hours=1)).astimezone(ZoneInfo(FAR_EAST)).weekday()
    return {"rules": {"send_days": [d for i, d in enumerate(WEEKDAYS) if i != local]}}


@pytest.mark.parametrize("loop_options", [_off_today()])
def test_off_day_in_the_contacts_zone_defers_to_its_midnight(loop: Loop) -> None:
    """Due on an off day in the contact's zone: deferred 'send_day', not sent one minute before
    the local midnight, sent at it."""
    loop.close_ticket("ada@example.com", timezone=FAR_EAST)
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    local = loop.clock.now.astimezone(ZoneInfo(FAR_EAST))
    assert WEEKDAYS[local.weekday()] not in loop.config.rules.send_days
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.deferred)) == (0, {"send_day": 1})
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(),
                                tzinfo=ZoneInfo(FAR_EAST))
    loop.clock.now = midnight - timedelta(minutes=1)
    assert loop.rt.dispatch().sent == 0
    loop.clock.now = midnight
    assert loop.rt.dispatch().sent == 1


@pytest.mark.parametrize("loop_options", [{"reminders": ["3d", "7d"]}])
def test_two_reminders_and_an_answer_stops_the_second(loop: Loop) -> None:
    """Two reminders for two people: both get reminder 1 at day 3; one answers from it, so at
    day 7 only the other gets reminder 2 and the answerer's is skipped 'answered'."""
    loop.close_ticket("ada@example.com")
    loop.close_ticket("bob@example.com", first="Bob")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert dispatched(loop) == (2, {})
    loop.clock.advance(timedelta(days=3))
    assert dispatched(loop) == (2, {})
    reminder = next(m for m in loop.sink.messages[2:] if m["To"] == "bob@example.com")
    body = reminder.get_body(("plain",))
    assert body is not None
    links = {int(score): url for url, score in ANSWER.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        assert web.post(links[4]).status_code == 200
    loop.clock.advance(timedelta(days=4))
    assert dispatched(loop) == (1, {"answered": 1})
    assert [m["To"] for m in loop.sink.messages[4:]] == ["ada@example.com"]


@pytest.mark.parametrize("choice", ["unsubscribe", "snooze"])
def test_the_unsubscribe_page_choice_reaches_the_crm_record(loop: Loop, choice: str) -> None:
    """"Never again" / "not for a while" on the mail's page: after write-back the contact's
    (HubSpot) or user's (Zendesk) preference property holds it."""
    _, contact = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert dispatched(loop) == (1, {})
    link = str(loop.sink.messages[0]["List-Unsubscribe"]).strip().strip("<>")
    with httpx.Client(timeout=10) as web:
        assert web.post(link, data={"choice": choice}).status_code == 200
    assert loop.prop(contact, "cl_feedback_unsubscribed") == ""
    loop.rt.write_back()
    if choice == "unsubscribe":
        assert loop.prop(contact, "cl_feedback_unsubscribed") not in ("", "false")
        assert loop.prop(contact, "cl_feedback_snoozed_until") == ""
    else:
        until = (loop.clock.now + loop.rt.config.policy().snooze).date().isoformat()
        assert loop.prop(contact, "cl_feedback_snoozed_until").startswith(until)
        assert loop.prop(contact, "cl_feedback_unsubscribed") in ("", "false")
