"""`closedloop status` names every skip reason with its count (issue 4: "every skipped survey
records why; `closedloop status` … show[s] counts per reason"), in the table and in --json.

The rows are written through the real Store into a real SQLite state file; the CLI reads that
file the way an admin's shell would (typer's CliRunner).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.store import NewSend, Store

ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "status-token",
       "CLOSEDLOOP_SECRET_KEY": "status-secret-0123456789abcdef"}
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
# Reasons and how many rows carry each: distinct counts, so a swapped count shows.
SKIPPED = {"global_cooldown": 3, "sampled_out": 2, "ticket_reopened": 1, "no_email": 4,
           "suppressed": 5}


def seed(tmp_path: Path) -> None:
    """Skipped rows of several reasons, plus one pending and one sent that are not skips."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    rows: list[NewSend] = []
    for reason, count in SKIPPED.items():
        rows += [_send(f"{reason}-{i}", status="skipped", skip_reason=reason)
                 for i in range(count)]
    rows += [_send("waiting"), _send("gone")]
    assert store.add_sends(rows) == len(rows)
    gone = next(r for r in map(store.get_send, range(1, len(rows) + 1))
                if r is not None and r.idem_key == "gone")
    store.mark_sent(gone.id, NOW, "<gone@acme.example>")
    store.dispose()


def _send(key: str, status: str = "pending", skip_reason: str | None = None) -> NewSend:
    return NewSend(idem_key=key, program="support-csat", survey_type="csat", source="hubspot",
                   contact_id="c-" + key, due_at=NOW, created_at=NOW - timedelta(hours=1),
                   ticket_id="t-" + key, email=f"{key}@example.com", status=status,
                   skip_reason=skip_reason)


def test_status_json_counts_each_skip_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed(tmp_path)
    result = CliRunner().invoke(app, ["status", "--json", "--config", str(config)], env=ENV)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    reasons = {k.removeprefix("skipped."): v for k, v in counts.items()
               if k.startswith("skipped.")}
    assert reasons == SKIPPED
    assert counts["sends.skipped"] == sum(SKIPPED.values())
    assert (counts["sends.pending"], counts["sends.sent"]) == (1, 1)


def test_status_table_has_one_row_per_skip_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    seed(tmp_path)
    result = CliRunner().invoke(app, ["status", "--config", str(config)], env=ENV)
    assert result.exit_code == 0, result.output
    rows = dict(re.findall(r"│\s*(skipped\.[a-z_]+)\s*│\s*(\d+)\s*│", result.stdout))
    assert {k.removeprefix("skipped."): int(v) for k, v in rows.items()} == SKIPPED
    total = re.search(r"│\s*sends\.skipped\s*│\s*(\d+)\s*│", result.stdout)
    assert total is not None
    assert int(total.group(1)) == sum(SKIPPED.values())
