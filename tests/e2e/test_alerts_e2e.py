"""Alerts end to end, for each CRM: a detractor's answer reaches Slack (Block Kit, on a real
local receiver) within one cycle, while a second rule whose webhook answers 400 goes dead
with its reason and never holds up the write-back of the answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from e2e_loop import Loop
from slack_receiver import Slack

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._-]+/(\d+))")


@pytest.fixture
def loop_options(slack: Slack) -> dict[str, Any]:
    return {"alerts": [
        {"name": "detractors", "categories": ["unsatisfied"], "channel": "slack",
         "url": f"{slack.url}/ok"},
        {"name": "broken", "categories": ["unsatisfied"], "channel": "slack",
         "url": f"{slack.url}/bad"},
    ]}


def test_detractor_answer_reaches_slack_within_one_cycle(loop: Loop, slack: Slack) -> None:
    """Close → survey → click 1 + comment → one write-back and one alerts run: the contact
    has the answer, Slack has one Block Kit message quoting it, the broken rule is dead
    (HTTP 400 with Slack's reason) and counted in status."""
    _, contact = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    body = loop.sink.messages[0].get_body(("plain",))
    assert body is not None
    links = {int(s): url for url, s in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        answered = web.post(links[1])
        web.post(str(answered.url), data={"comment": "Nobody answered for a week"})

    assert loop.rt.alerts().queued == 0  # younger than the cursor's lag: read next cycle
    loop.clock.advance(timedelta(minutes=1))  # one write-back cycle
    result = loop.rt.alerts()
    assert (result.queued, result.delivered, result.dead) == (2, 1, 1)
    assert loop.rt.write_back()[loop.source].contacts == 1
    assert loop.props(contact)["cl_csat_last_rating"] == "1"

    (message,) = slack.messages
    assert message["blocks"][0] == {"type": "header",
                                    "text": {"type": "plain_text", "text": "Alert: detractors"}}
    assert message["blocks"][1]["text"]["text"] == \
        "New answer to support-csat: 1 (unsatisfied)"
    assert "*Comment*\nNobody answered for a week" in [
        f["text"] for f in message["blocks"][2]["fields"]]
    counts = loop.rt.store.counts()
    assert (counts["alerts.delivered"], counts["alerts.dead"]) == (1, 1)
    dead = [r for r in loop.rt.store.alert_rows() if r["status"] == "dead"]
    assert [r["last_error"] for r in dead] == ["HTTP 400: invalid_blocks"]

    assert loop.rt.alerts().queued == 0  # the next cycle fires nothing again
    assert len(slack.messages) == 1


def test_the_scheduler_runs_the_alerts_job(loop: Loop, slack: Slack) -> None:
    """`closedloop run`'s scheduler has an "alerts" job (one instance, runs coalesced) that
    delivers a detractor's alert on its own."""
    import time

    from closedloop.daemon.service import start_scheduler

    _, _ = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    loop.rt.dispatch()
    body = loop.sink.messages[0].get_body(("plain",))
    assert body is not None
    links = {int(s): url for url, s in LINK.findall(body.get_content())}
    with httpx.Client(follow_redirects=True, timeout=10) as web:
        web.post(links[2])
    loop.clock.advance(timedelta(minutes=1))
    every = timedelta(seconds=0.2)
    scheduler = start_scheduler(loop.rt, timedelta(hours=1), timedelta(hours=1), every)
    try:
        job = scheduler.get_job("alerts")
        assert (job.max_instances, job.coalesce) == (1, True)
        # The jobs' first run is at the test's manual clock, ahead of the wall clock: now.
        job.modify(next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 20
        while not slack.messages and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    assert [m["blocks"][1]["text"]["text"] for m in slack.messages] == [
        "New answer to support-csat: 2 (unsatisfied)"]
