"""`closedloop demo` runs the whole loop on embedded defaults and reports what happened."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]  # the CLI, as installed


def assert_loop_closed(report: dict[str, Any]) -> None:
    """The unhappy answers became follow-ups in the sandbox (read back from it), Slack-format
    alerts and signed webhooks at the demo's receiver; every webhook it got verified with
    standardwebhooks, each event once, follow_up.created once per follow-up."""
    assert report["follow_ups_created"] > 0
    assert report["webhook_events"]["follow_up.created"] == report["follow_ups_created"]
    assert report["alerts_delivered"] == report["slack_messages_received"] > 0
    assert report["webhooks_delivered"] == report["webhooks_verified"] > 0
    assert report["webhooks_rejected"] == 0
    assert sum(report["webhook_events"].values()) == report["webhooks_verified"]
    assert report["webhook_events"]["response.created"] == report["answers"]
    assert report["webhook_events"]["survey.sent"] == report["surveys_sent"]


def test_demo_json_reports_the_whole_loop() -> None:
    """Twelve tickets: eleven surveys, one skipped for no address, answers written to HubSpot;
    the loop closed (tasks, alerts, webhooks)."""
    run = subprocess.run([*CLOSEDLOOP, "demo", "--json"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["tickets_closed"] == 12
    assert report["surveys_sent"] == 11
    assert report["surveys_skipped"] == {"no_email": 1}
    assert report["answers"] == report["answers_recorded"] > 0
    assert report["scanner_fetches"] == report["answers"]
    assert (report["record_kind"], report["value_kind"]) == ("contacts", "contact properties")
    assert report["records_updated"] == 11  # every surveyed contact got at least its sent date
    # The hooks: a note per answered survey, no tags (HubSpot tickets have none).
    assert (report["notes_added"], report["tickets_tagged"], report["tags_added"]) == (
        report["answers"], 0, {})
    assert report["hook_clock_ahead_seconds"] == 300
    assert report["api_calls_by_endpoint"]["POST /crm/v3/objects/contacts/batch/update"] >= 1
    assert report["follow_up_kind"] == "follow-up tasks"
    assert report["api_calls_by_endpoint"]["POST /crm/v3/objects/tasks/batch/create"] >= 1
    assert_loop_closed(report)
    # It ends with a report of its own answers: one line per program, every answer in one.
    assert sum(int(line.split(": ", 1)[1].split(" ", 1)[0]) for line in report["summary"]
               ) == report["answers"]
    assert all("response rate" in line for line in report["summary"])
    # The demo polls twice a second, so the searches depend on how long the box took; the
    # rest is what 11 surveys need, give or take how the answers fall into write-back rounds.
    calls = dict(report["api_calls_by_endpoint"])
    searches = calls.pop("POST /crm/v3/objects/tickets/search")
    assert 1 <= searches <= 2 * report["seconds"] + 2
    assert sum(calls.values()) <= 20  # 13 on a quiet box; answers split over more rounds


def test_demo_runs_on_the_zendesk_sandbox_too() -> None:
    """`--crm zendesk`: the same loop through zenpy; user fields written in update_many jobs,
    follow-up tickets made with create_many, alerts and webhooks as on HubSpot."""
    run = subprocess.run([*CLOSEDLOOP, "demo", "--json", "--crm", "zendesk"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["crm"] == "zendesk"
    assert (report["surveys_sent"], report["surveys_skipped"]) == (11, {"no_email": 1})
    assert report["answers"] == report["answers_recorded"] > 0
    assert (report["record_kind"], report["value_kind"]) == ("users", "user fields")
    assert report["records_updated"] == 11
    # The hooks Zendesk triggers need: each answered ticket tagged with its category and given
    # a private note carrying the score and comment.
    assert report["tickets_tagged"] == report["notes_added"] == report["answers"]
    assert sum(report["tags_added"].values()) == report["answers"]
    assert all(tag.startswith("closedloop_") for tag in report["tags_added"])
    assert report["api_calls_by_endpoint"]["PUT /api/v2/tickets/update_many.json"] >= 1
    assert report["api_calls_by_endpoint"]["PUT /api/v2/users/update_many.json"] >= 1
    assert report["api_calls_by_endpoint"]["GET /api/v2/incremental/tickets/cursor.json"] >= 1
    assert report["follow_up_kind"] == "follow-up tickets"
    assert report["api_calls_by_endpoint"]["POST /api/v2/tickets/create_many.json"] >= 1
    assert_loop_closed(report)


@pytest.mark.parametrize(("crm", "own", "foreign"), [
    ("hubspot", ["contacts updated in HubSpot", "contact properties written",
                 "notes on tickets (shown on their contacts too)",
                 "ticket tags (HubSpot tickets have none)",
                 "follow-up tasks created in HubSpot", "alerts delivered (Slack format)",
                 "webhooks delivered", "verified at the local receiver (standardwebhooks)"],
     ["user field", "users updated", "tickets tagged", "Zendesk"]),
    ("zendesk", ["users updated in Zendesk", "user fields written", "tickets tagged",
                 "tag closedloop_", "private notes on tickets",
                 "follow-up tickets created in Zendesk", "alerts delivered (Slack format)",
                 "webhooks delivered", "verified at the local receiver (standardwebhooks)"],
     ["contact", "propert", "HubSpot"]),
])
def test_demo_text_speaks_each_crms_words_and_shows_the_hooks(
        crm: str, own: list[str], foreign: list[str]) -> None:
    """The table names the CRM's own records and values, and what the hooks left on tickets;
    no word of the other CRM."""
    run = subprocess.run([*CLOSEDLOOP, "demo", "--crm", crm],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [phrase for phrase in own if phrase not in run.stdout] == []
    assert [word for word in foreign if word.lower() in run.stdout.lower()] == []


def test_demo_refuses_an_unknown_crm() -> None:
    run = subprocess.run([*CLOSEDLOOP, "demo", "--crm", "salesforce"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert "--crm: expected one of hubspot, zendesk" in run.stderr
    assert "Traceback" not in run.stderr
