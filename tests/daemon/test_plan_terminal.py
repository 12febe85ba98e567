"""`closedloop plan` in an 80-column terminal: nothing wider, no value cut to an ellipsis, and
stdout holds only the table (or only the JSON); log lines go to stderr.

The real CLI in a subprocess (as an admin runs it) against the sandbox HubSpot over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

TOKEN = "plan-term-token"
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": TOKEN, "CLOSEDLOOP_SECRET_KEY": "plan-term-secret-0123456789",
       "COLUMNS": "80", "LINES": "40"}
LOG_EVENTS = ("store.migrated", "plan.done")  # what this run logs, on stderr


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    """Ada closes a ticket in each of two programs (one mail, one global_cooldown skip), Quinn
    one; long names everywhere."""
    state = HubSpotState()
    now = datetime.now(UTC)
    ada = state.create_contact("ada.lovelace@analytical-engines.example", "Ada", "L", "en")
    quinn = state.create_contact("quinn.quietly@example.com", "Quinn", "Q", "en")
    state.create_ticket("Printer on fire", ada, pipeline="0", closed_at=now - timedelta(minutes=9))
    state.create_ticket("Invoice twice", ada, pipeline="5", closed_at=now - timedelta(minutes=5))
    state.create_ticket("Slow", quinn, pipeline="0", closed_at=now - timedelta(minutes=5))
    with HubSpotSandbox(state, token=TOKEN) as server:
        yield server


def write_config(tmp_path: Path, url: str, log_format: str) -> Path:
    path = tmp_path / f"config-{log_format}.toml"
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).isoformat()
    # Quiet from an hour ago to three hours from now: every send shows as held by quiet hours.
    quiet = [f"{now - timedelta(hours=1):%H:%M}", f"{now + timedelta(hours=3):%H:%M}"]
    path.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "{log_format}"
[sources.hubspot]
crm = "hubspot"
base_url = "{url}"
start_at = "{start}"
[mail]
from_address = "feedback@acme.example"
[rules]
quiet_hours = {json.dumps(quiet)}
[[programs]]
name = "support-csat-quick-answers"
type = "csat"
source = "hubspot"
company = "Acme"
pipelines = ["0"]
delay = "10m"
reminders = ["3d"]
[[programs]]
name = "billing-ces-quarterly"
type = "ces"
source = "hubspot"
company = "Acme"
pipelines = ["5"]
delay = "10m"
""", encoding="utf-8")
    return path


def closedloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "closedloop.daemon", *args], check=False,
                          capture_output=True, text=True, env={**os.environ, **ENV}, timeout=60)


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_the_table_fits_80_columns_and_cuts_nothing(tmp_path: Path, sandbox: HubSpotSandbox,
                                                    log_format: str) -> None:
    """Every line ≤ 80, no '…', every reason whole on its row's line; logs only on stderr."""
    config = str(write_config(tmp_path, sandbox.url, log_format))
    entries = json.loads(closedloop("plan", "--json", "--config", config).stdout)["entries"]
    reasons = sorted({e["reason"] for e in entries if e["reason"]})
    assert reasons == ["global_cooldown", "quiet_hours"]
    run = closedloop("plan", "--config", config)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    assert "…" not in run.stdout
    for reason in reasons:
        assert any(reason in line.split() for line in lines), reason
    assert "support-csat-quick-answers" in run.stdout.replace("\n", "").replace(" ", "")
    assert [event for event in LOG_EVENTS if event in run.stdout] == []
    assert [event for event in LOG_EVENTS if event in run.stderr] == list(LOG_EVENTS)


def test_json_stdout_is_only_json(tmp_path: Path, sandbox: HubSpotSandbox) -> None:
    """`plan --json` stdout parses as one JSON document; the log lines are on stderr."""
    config = str(write_config(tmp_path, sandbox.url, "console"))
    run = closedloop("plan", "--json", "--config", config)
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert plan["counts"] == {"send.billing-ces-quarterly": 1,
                              "send.support-csat-quick-answers": 2, "skip.global_cooldown": 1}
    assert [event for event in LOG_EVENTS if event in run.stderr] == list(LOG_EVENTS)
