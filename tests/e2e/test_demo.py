"""`closedloop demo` runs the whole loop on embedded defaults and reports what happened."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_json_reports_the_whole_loop() -> None:
    """Twelve tickets: eleven surveys, one skipped for no address, answers written to HubSpot."""
    run = subprocess.run([sys.executable, "-m", "daemon", "demo", "--json"],
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
