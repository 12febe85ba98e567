"""`closedloop demo` runs the whole loop on embedded defaults and reports what happened."""

from __future__ import annotations

import json
import subprocess
import sys

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
    assert report["contacts_updated"] == 11  # every surveyed contact got at least its sent date
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
    assert report["contacts_updated"] == 11
    assert report["api_calls_by_endpoint"]["PUT /api/v2/users/update_many.json"] >= 1
    assert report["api_calls_by_endpoint"]["GET /api/v2/incremental/tickets/cursor.json"] >= 1


def test_demo_refuses_an_unknown_crm() -> None:
    run = subprocess.run([*CLOSEDLOOP, "demo", "--crm", "salesforce"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert "--crm: expected one of hubspot, zendesk" in run.stderr
    assert "Traceback" not in run.stderr
