"""Surveys whose outcome is unknown are shown apart: `closedloop status` (table and --json)
and `closedloop plan`, which also counts them as sent (the cooldown holds, no reminder).

Rows are moved through the real Store's transitions in a real SQLite state file; the CLI
reads that file the way an admin's shell would (typer's CliRunner).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.plan import make_plan
from closedloop.daemon.store import CONNECTION_LOST, INTERRUPTED, NewSend, Store
from closedloop.daemon.surveys import Policy, Program, SurveyType

ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "status-token",
       "CLOSEDLOOP_SECRET_KEY": "status-secret-0123456789abcdef"}
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning
LEASE = timedelta(seconds=30)
CSAT = Program("support-csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               reminders=(timedelta(days=3),))


def _send(key: str, email: str, due: datetime = NOW) -> NewSend:
    return NewSend(idem_key=key, program="support-csat", survey_type="csat",
                   source="hubspot", contact_id="c-" + key, due_at=due,
                   created_at=due - timedelta(hours=1), closed_at=due - timedelta(hours=1),
                   ticket_id="t-" + key, email=email)


def seed(store: Store) -> None:
    """One survey cut after the end of data, one left by a daemon killed there, one sent."""
    store.add_sends([_send("cut", "ada@example.com"), _send("killed", "bob@example.com"),
                     _send("fine", "cy@example.com")])
    cut, fine, killed = store.claim_due_sends(NOW, 3, LEASE)  # ties go in key order
    for row in (cut, killed, fine):
        assert store.begin_sending(row.id, NOW)
        assert store.end_of_data(row.id, 1, NOW)
    store.mark_outcome_unknown(cut.id, CONNECTION_LOST, NOW)
    store.mark_sent(fine.id, NOW, "<fine@acme.example>", reminders=CSAT.reminders)
    store.release_stale(NOW + LEASE)  # `killed` was never recorded


def test_status_shows_outcome_unknown_apart(tmp_path: Path) -> None:
    """--json counts them by where they broke, apart from sent and skipped; the table says
    what they mean for the rules."""
    config = write_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    seed(store)
    store.dispose()
    result = CliRunner().invoke(app, ["status", "--json", "--config", str(config)], env=ENV)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert {k: v for k, v in counts.items() if "unknown" in k or k in (
        "sends.sent", "sends.skipped", "sends.failed")} == {
        "sends.outcome_unknown": 2, f"outcome_unknown.{CONNECTION_LOST}": 1,
        f"outcome_unknown.{INTERRUPTED}": 1, "sends.sent": 1, "sends.skipped": 0,
        "sends.failed": 0}
    table = CliRunner().invoke(app, ["status", "--config", str(config)], env=ENV,
                               terminal_width=200)
    assert table.exit_code == 0, table.output
    assert f"outcome_unknown.{CONNECTION_LOST}" in table.stdout
    assert "2 survey(s) with outcome_unknown" in " ".join(table.stdout.split())
    assert "never sent again and get no reminder" in " ".join(table.stdout.split())


def test_status_table_has_no_outcome_unknown_line_when_there_are_none(tmp_path: Path) -> None:
    """The explanation only shows when there is something to explain."""
    config = write_config(tmp_path)
    result = CliRunner().invoke(app, ["status", "--config", str(config)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "survey(s) with outcome_unknown" not in result.stdout


def test_plan_counts_them_as_sent_and_shows_them_apart(store: Store) -> None:
    """Ada's survey broke after the end of data; her next survey, due two days on, plans as
    a global_cooldown skip; no reminder of the unknown one is planned; the plan notes them."""
    seed(store)
    later = NOW + timedelta(days=2)
    store.add_sends([_send("next", "ada@example.com", due=later)])
    plan = make_plan(store, {"support-csat": CSAT}, Policy(), {}, NOW + LEASE, days=7)
    entries = [(e.action, e.reason, e.kind, e.email) for e in plan.entries]
    assert entries == [("skip", "global_cooldown", "survey", "ada@example.com"),
                       ("send", None, "reminder", "cy@example.com")]
    assert plan.outcome_unknown == {CONNECTION_LOST: 1, INTERRUPTED: 1}
    assert plan.as_dict()["outcome_unknown"] == {CONNECTION_LOST: 1, INTERRUPTED: 1}
    assert [n for n in plan.notes if "unknown outcome" in n] == [
        "2 survey(s) have an unknown outcome (the relay may have them): counted as sent by "
        "the cooldowns here as in a run, never sent again, no reminder"]
