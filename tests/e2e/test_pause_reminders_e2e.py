"""A paused program's reminders, end to end on each CRM's sandbox (issue 4: reminders are
"never after … a paused program"; queued sends of a paused program "are held, not lost and
not sent, until it resumes or they expire").

The survey goes out, then the program is paused (its settings replaced in the runtime, as a
config reload does). The reminder falls due while paused: held, counted in `sends.held`, no
mail. On resume it goes out with the survey's very links, or, once past `expire_after` from
its own due time, it is skipped "expired" and never mailed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from e2e_loop import Loop

LINK = re.compile(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/\d+")
PROGRAM = "support-csat"
# Reminder 3 days after the survey; anything unsent 2 days past its due time is dropped.
OPTIONS = {"reminders": ["3d"], "expire_after": "2d"}


def links(loop: Loop, index: int) -> list[str]:
    body = loop.sink.messages[index].get_body(("plain",))
    assert body is not None
    return sorted(LINK.findall(body.get_content()))


def set_enabled(loop: Loop, enabled: bool) -> None:
    loop.rt.programs[PROGRAM] = replace(loop.rt.programs[PROGRAM], enabled=enabled)


def survey_sent_then_paused_until_the_reminder_is_held(loop: Loop) -> None:
    """Survey out at +1 h; paused; at +3 d the reminder is due and held, not mailed."""
    loop.close_ticket("ada@example.com")
    assert loop.rt.poll()[loop.source].queued == 1
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    assert loop.rt.store.counts()["sends.pending"] == 1  # the reminder, queued at send time
    set_enabled(loop, False)
    loop.clock.advance(timedelta(days=3))
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.deferred), dict(result.skipped)) == (
        0, {"program_paused": 1}, {})
    assert loop.rt.store.counts()["sends.held"] == 1
    assert len(loop.sink.messages) == 1


@pytest.mark.parametrize("loop_options", [OPTIONS])
def test_a_held_reminder_goes_out_on_resume_with_the_surveys_links(loop: Loop) -> None:
    survey_sent_then_paused_until_the_reminder_is_held(loop)
    loop.clock.advance(timedelta(days=1))  # still paused, still inside expire_after
    assert loop.rt.dispatch().sent == 0
    assert loop.rt.store.counts()["sends.held"] == 1
    set_enabled(loop, True)
    loop.clock.advance(timedelta(hours=1))  # a held row is looked at again within the hour
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.skipped)) == (1, {})
    assert [m["To"] for m in loop.sink.messages] == ["ada@example.com"] * 2
    assert links(loop, 1) == links(loop, 0)  # the reminder carries the survey's token
    counts = loop.rt.store.counts()
    assert (counts["sends.held"], counts["sends.pending"], counts["sends.sent"]) == (0, 0, 2)


@pytest.mark.parametrize("loop_options", [OPTIONS])
def test_a_held_reminder_past_expire_after_is_dropped_on_resume(loop: Loop) -> None:
    survey_sent_then_paused_until_the_reminder_is_held(loop)
    loop.clock.advance(timedelta(days=2, hours=1))  # reminder due 3 d, expired at 5 d
    set_enabled(loop, True)
    result = loop.rt.dispatch()
    assert (result.sent, dict(result.skipped)) == (0, {"expired": 1})
    assert len(loop.sink.messages) == 1
    counts = loop.rt.store.counts()
    assert (counts["sends.held"], counts["sends.pending"], counts["skipped.expired"]) == (0, 0, 1)
    loop.clock.advance(timedelta(days=1))
    assert loop.rt.dispatch().sent == 0
    assert len(loop.sink.messages) == 1
