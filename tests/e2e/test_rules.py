"""The fatigue rules end to end, on each CRM's sandbox with the real client, SMTP and SQLite:
global cooldown across programs, coalescing, a reopened ticket, quiet hours, pause and resume.

The loop's clock starts at the real time of day, so the quiet-hours test picks a contact time
zone in which that moment is late evening, and computes the local 08:00 it must wait for.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from e2e_loop import Loop

# Zones without daylight saving (in November), one per whole-hour UTC offset.
FIXED_ZONES = {
    -11: "Pacific/Pago_Pago", -10: "Pacific/Honolulu", -9: "Pacific/Gambier",
    -8: "Pacific/Pitcairn", -7: "America/Phoenix", -6: "America/Regina", -5: "America/Bogota",
    -4: "America/La_Paz", -3: "America/Argentina/Buenos_Aires", -2: "America/Noronha",
    -1: "Atlantic/Cape_Verde", 0: "Africa/Abidjan", 1: "Africa/Lagos", 2: "Africa/Maputo",
    3: "Europe/Istanbul", 4: "Asia/Dubai", 5: "Asia/Karachi", 6: "Asia/Dhaka",
    7: "Asia/Bangkok", 8: "Asia/Singapore", 9: "Asia/Tokyo", 10: "Australia/Brisbane",
    11: "Pacific/Guadalcanal", 12: "Pacific/Tarawa",
}


def sent_and_skipped(loop: Loop) -> tuple[int, dict[str, int]]:
    result = loop.rt.dispatch()
    return result.sent, dict(result.skipped)


@pytest.mark.parametrize("loop_options", [{"rules": {"global_cooldown": "7d"}}])
def test_global_cooldown_across_two_programs(loop: Loop) -> None:
    """One person, a support ticket (CSAT) and a billing ticket (CES): one survey in a week."""
    _, contact = loop.close_ticket("ada@example.com")
    loop.close_ticket("ada@example.com", contact=contact, pipeline=loop.crm.billing)
    assert loop.rt.poll()[loop.source].queued == 2
    loop.clock.advance(timedelta(hours=2))
    assert sent_and_skipped(loop) == (1, {"global_cooldown": 1})
    assert [m["To"] for m in loop.sink.messages] == ["ada@example.com"]
    assert loop.rt.store.counts()["skipped.global_cooldown"] == 1


def test_tickets_closed_together_get_one_survey_about_the_latest(loop: Loop) -> None:
    """Three tickets 20 minutes apart, polled together: one mail, about the last ticket."""
    loop.clock.advance(timedelta(hours=1))
    _, contact = loop.close_ticket("ada@example.com", ago=timedelta(minutes=45))
    loop.close_ticket("ada@example.com", contact=contact, ago=timedelta(minutes=25))
    last, _ = loop.close_ticket("ada@example.com", contact=contact, ago=timedelta(minutes=5))
    assert loop.rt.poll()[loop.source].queued == 3
    loop.clock.advance(timedelta(hours=1))
    assert sent_and_skipped(loop) == (1, {"coalesced": 2})
    [sent] = [r for r in map(loop.rt.store.get_send, (1, 2, 3)) if r and r.status == "sent"]
    assert sent.ticket_id == last


def test_a_ticket_closed_after_the_survey_left_is_part_of_its_burst(loop: Loop) -> None:
    ticket, contact = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert sent_and_skipped(loop) == (1, {})
    loop.close_ticket("ada@example.com", contact=contact)
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert sent_and_skipped(loop) == (0, {"coalesced": 1})
    assert ticket


def test_reopened_ticket_cancels_its_survey_and_solving_it_again_brings_one(loop: Loop) -> None:
    ticket, _ = loop.close_ticket("ada@example.com")
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(minutes=20))
    loop.reopen(ticket)
    loop.clock.advance(timedelta(minutes=50))
    assert sent_and_skipped(loop) == (0, {"ticket_reopened": 1})
    assert loop.sink.messages == []
    # Solved again: the poll sees it again, queues a new survey, and it goes out.
    loop.clock.advance(timedelta(hours=2))
    loop.solve_again(ticket)
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(hours=1))
    assert sent_and_skipped(loop) == (1, {})


@pytest.mark.parametrize("loop_options", [{"rules": {"quiet_hours": ["21:00", "08:00"]}}])
def test_quiet_hours_defer_to_eight_in_the_contacts_zone(loop: Loop) -> None:
    """Due at 23:xx local: nothing at night, the mail leaves at 08:00 local, not before."""
    due = loop.clock.now + timedelta(hours=1)
    offset = (23 - due.hour + 12) % 24 - 12  # the zone where `due` is 23:xx (-12..11)
    zone = ZoneInfo(FIXED_ZONES.get(offset, FIXED_ZONES[offset + 24 if offset < -11 else 12]))
    local = due.astimezone(zone)
    morning = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(),
                               tzinfo=zone).replace(hour=8)
    if local.hour < 8:  # -12 has no fixed zone: we landed just after midnight instead
        morning = morning - timedelta(days=1)
    loop.close_ticket("ada@example.com", timezone=str(zone))
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.deferred)) == (0, {"quiet_hours": 1})
    loop.clock.now = morning - timedelta(minutes=1)
    assert loop.rt.dispatch().sent == 0
    loop.clock.now = morning
    assert loop.rt.dispatch().sent == 1
    assert loop.sink.messages[0]["To"] == "ada@example.com"


@pytest.mark.parametrize("loop_options", [{"enabled": False}])
def test_paused_program_holds_its_surveys_until_resumed(loop: Loop) -> None:
    """Paused: polled and held (status counts them), not sent; resumed: sent within the hour."""
    loop.close_ticket("ada@example.com")
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(hours=3))
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.deferred)) == (0, {"program_paused": 1})
    assert loop.rt.store.counts()["sends.held"] == 1
    loop.clock.advance(timedelta(days=2))
    assert loop.rt.dispatch().sent == 0
    program = loop.rt.programs["support-csat"]
    loop.rt.programs["support-csat"] = replace(program, enabled=True)  # config reloaded
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    assert loop.rt.store.counts()["sends.held"] == 0
