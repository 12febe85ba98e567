"""Response rates: answered surveys / surveys sent, per program, over the last 30 days and
all time; reminders are not surveys; `closedloop status` shows them; `export --all` lists
the sent surveys without an answer (blank answer columns); the demo's closing lines."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.insight.rates import ResponseRate, program_rates, summary_lines
from closedloop.daemon.store import Store
from insight.report_support import Seeder

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "rates-token",
       "CLOSEDLOOP_SECRET_KEY": "rates-secret-0123456789abcdef"}


def seed_rates(store: Store) -> None:
    """nps: 3 sent 40 days ago (2 answered), 2 sent 29 days ago (1 answered after a
    reminder that was sent too); csat: one queued, never sent."""
    seed = Seeder(store)
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=29, hours=23)
    seed.survey(sent_at=old, score=9)
    seed.survey(sent_at=old, score=2)
    seed.survey(sent_at=old)
    reminded = seed.survey(sent_at=recent, reminders=(timedelta(days=1),))
    seed.survey(sent_at=recent)
    (reminder,) = store.claim_due_sends(NOW, 10, timedelta(minutes=1))
    store.mark_sent(reminder.id, recent + timedelta(days=1), "m-rem")
    seed.answer(reminded, 10, recent + timedelta(days=1, hours=2))
    seed.survey(sent_at=None, program="csat", survey_type="csat")


def test_rates_per_program_and_window(store: Store) -> None:
    """The reminder is not counted as sent; its answer counts for its survey; the 30-day
    window starts exactly 30 days back (29 d 23 h in, 40 d out)."""
    seed_rates(store)
    assert program_rates(store, ["nps", "csat"], NOW) == [
        ("nps", ResponseRate(2, 1), ResponseRate(5, 3)),
        ("csat", ResponseRate(0, 0), ResponseRate(0, 0))]
    assert ResponseRate(0, 0).rate is None
    assert summary_lines(store) == ["nps: 3 answers, NPS +33, response rate 60 % (3 of 5 sent)"]


def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "json"
[sources.hubspot]
crm = "hubspot"
base_url = "http://127.0.0.1:9"
[mail]
from_address = "feedback@acme.example"
[[programs]]
name = "nps"
type = "nps"
source = "hubspot"
company = "Acme"
""", encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    seed_rates(store)
    store.dispose()
    return path


def test_status_shows_response_rates(tmp_path: Path) -> None:
    """status --json: per program, last 30 days and all time; the table has a rate line."""
    path = str(config(tmp_path))
    with time_machine.travel(NOW, tick=False):
        result = CliRunner().invoke(app, ["status", "--json", "-c", path], env=ENV)
        table = CliRunner().invoke(app, ["status", "-c", path], env=ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["response_rates"] == {
        "nps": {"last_30_days": {"sent": 2, "answered": 1, "rate": 0.5},
                "all_time": {"sent": 5, "answered": 3, "rate": 0.6}}}
    assert "Response rate" in table.stdout
    assert [line.split()[:7] for line in table.stdout.splitlines() if line.startswith("│ nps")
            ] == [["│", "nps", "│", "2", "│", "1", "│"]]


def test_export_all_includes_unanswered_surveys(tmp_path: Path) -> None:
    """export --all: the five sent surveys (not the reminder, id 5, nor the unsent one), the two
    unanswered with blank answer columns; without --all only the three responses."""
    path = str(config(tmp_path))
    every = CliRunner().invoke(app, ["export", "--all", "-c", path], env=ENV)
    answered = CliRunner().invoke(app, ["export", "-c", path], env=ENV)
    assert every.exit_code == 0, every.output
    rows = list(csv.DictReader(io.StringIO(every.stdout)))
    assert [(r["send_id"], r["score"], r["category"], r["answered_at"]) for r in rows] == [
        ("1", "9", "promoter", rows[0]["answered_at"]), ("2", "2", "detractor",
                                                         rows[1]["answered_at"]),
        ("3", "", "", ""), ("4", "10", "promoter", rows[3]["answered_at"]), ("6", "", "", "")]
    assert len(list(csv.DictReader(io.StringIO(answered.stdout)))) == 3
