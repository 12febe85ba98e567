"""`closedloop demo --channels`: surveys texted through the Twilio sandbox and answered by
reply, on each sandbox CRM, and reported with the main demo's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from closedloop.daemon.channels.demo import run_sms_demo


@pytest.mark.parametrize("crm", ["hubspot", "zendesk"])
def test_sms_demo_texts_and_records_replies(crm: str) -> None:
    """Five people: four texted in one segment each, one skipped for a number that is no
    number; the replies are a score with a comment, a score, a French stop, an unreadable
    text then a score; three answers reach the CRM records; all four texts delivered."""
    report = run_sms_demo(crm_name=crm)
    assert (report.texts_sent, report.segments_sent, report.skipped_invalid_phone) == (4, 4, 1)
    assert report.replies == {"comment": 1, "score": 2, "stop": 1, "unparsed": 1}
    assert (report.answers_in_crm, report.unsubscribed, report.delivered) == (3, 1, 4)
    assert report.twilio_calls == 4
    assert "/s/" in report.example_text


def test_demo_channels_json_carries_the_sms_report() -> None:
    """The CLI's --channels --json is one JSON object with an "sms" part (the mail round
    also carries the webhook-triggered survey: 11 tickets + 1 event)."""
    run = subprocess.run([sys.executable, "-m", "closedloop.daemon", "demo", "--channels",
                          "--json"], capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert (report["sms"]["texts_sent"], report["surveys_sent"]) == (4, 12)
    assert report["triggered_surveys"] == 1
