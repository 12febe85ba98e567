"""`closedloop demo` runs the whole loop on embedded defaults and reports what happened."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLOSEDLOOP = [sys.executable, "-m", "closedloop.daemon"]  # the CLI, as installed


def test_demo_json_reports_the_whole_loop() -> None:
    """Twelve tickets: eleven surveys, one skipped for no address, answers written to HubSpot."""
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
    assert report["api_calls"] < 40
    assert report["seconds"] < 60


def test_demo_runs_on_the_zendesk_sandbox_too() -> None:
    """`--crm zendesk`: the same loop through zenpy; user fields written in update_many jobs."""
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


@pytest.mark.parametrize(("crm", "own", "foreign"), [
    ("hubspot", ["contacts updated in HubSpot", "contact properties written",
                 "notes on tickets (shown on their contacts too)",
                 "ticket tags (HubSpot tickets have none)"],
     ["user field", "users updated", "tickets tagged", "Zendesk"]),
    ("zendesk", ["users updated in Zendesk", "user fields written", "tickets tagged",
                 "tag closedloop_", "private notes on tickets"],
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
