"""Export formats (CSV quoting, JSONL round trip), forget's checks and logs, and the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.privacy import COLUMNS, forget_person, person_ref, write_export
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.privacy import ExportRow
from closedloop.integration.errors import ConfigError

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "t", "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef"}
TRICKY = 'Slow, "very" slow\nsecond line; ünïcode ✓'


def _row(i: int, comment: str | None) -> ExportRow:
    return ExportRow(response_id=i, program="support-csat", survey_type="csat", score=2,
                     category="unsatisfied", comment=comment, answered_at=T0,
                     updated_at=T0 + timedelta(minutes=1), sent_at=T0 - timedelta(hours=1),
                     closed_at=None, source="hubspot", contact_id="c1", ticket_id="t1",
                     owner_id="77", team_id="9", organization_id=None, pipeline="0",
                     language="fr")


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    """A csv reader gets back exactly the comment; dates are ISO 8601, None is empty."""
    out = io.StringIO()
    assert write_export([_row(1, TRICKY), _row(2, None)], out, "csv") == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == list(COLUMNS)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["comment"] == TRICKY
    assert (first["answered_at"], first["closed_at"], first["team_id"]) == (
        "2026-11-20T09:00:00+00:00", "", "9")
    assert dict(zip(rows[0], rows[2], strict=True))["comment"] == ""


def test_csv_defuses_spreadsheet_formulas() -> None:
    """A comment starting with = (or + - @) would run as a formula in a spreadsheet."""
    out = io.StringIO()
    write_export([_row(1, '=HYPERLINK("http://evil")')], out, "csv")
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["comment"] == "'=HYPERLINK(\"http://evil\")"


def test_jsonl_round_trips_every_field() -> None:
    """One JSON object per line; parsing it back gives the row (dates as ISO strings)."""
    out = io.StringIO()
    rows = [_row(1, TRICKY), _row(2, None)]
    write_export(rows, out, "jsonl")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    parsed = [json.loads(line) for line in lines]
    assert parsed[0]["comment"] == TRICKY
    fields: dict[str, Any] = {k: (datetime.fromisoformat(v) if k.endswith("_at") and v else v)
                              for k, v in parsed[0].items()}
    assert ExportRow(**fields) == rows[0]
    assert parsed[1]["comment"] is None


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        write_export([], io.StringIO(), "xml")  # type: ignore[arg-type]


def test_forget_refuses_a_non_address_and_logs_no_address(tmp_path: Path) -> None:
    """Something that is not an address is a clear error; the log names a hash, not the
    address."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    with pytest.raises(ConfigError, match="expected an e-mail address"):
        forget_person(store, "ada", T0)
    with structlog.testing.capture_logs() as logs:
        result = forget_person(store, "Ada@Example.com", T0)
    assert not result.found
    event = next(e for e in logs if e["event"] == "privacy.unknown_person")
    assert event["person"] == person_ref("ada@example.com") != "ada@example.com"
    assert "ada@example.com" not in json.dumps(logs, default=str).lower()
    store.dispose()


def _answered(tmp_path: Path, comment: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    store.add_sends([NewSend(idem_key="a", program="support-csat", survey_type="csat",
                             source="hubspot", contact_id="c1", due_at=T0, created_at=T0,
                             ticket_id="t1", email="ada@example.com")])
    [send] = store.claim_due_sends(T0, 1, timedelta(minutes=5))
    store.begin_sending(send.id, T0)
    store.mark_sent(send.id, T0, "<a@x>")
    store.record_response(send.id, 4, "satisfied", T0)
    store.record_comment(send.id, comment, T0)
    store.dispose()


def test_cli_export_then_forget(tmp_path: Path) -> None:
    """export writes the file (CSV) or stdout (JSONL); forget reports what it did and a
    second forget says nothing is stored; an export afterwards is empty."""
    config = str(write_config(tmp_path))
    _answered(tmp_path, TRICKY)
    runner = CliRunner()
    target = tmp_path / "out.csv"
    exported = runner.invoke(app, ["export", "-c", config, "--output", str(target)], env=ENV)
    assert exported.exit_code == 0, exported.output
    with target.open(encoding="utf-8", newline="") as fh:
        assert [r["comment"] for r in csv.DictReader(fh)] == [TRICKY]
    jsonl = runner.invoke(app, ["export", "-c", config, "--format", "jsonl",
                                "--since", "2026-11-21"], env=ENV)
    assert (jsonl.exit_code, jsonl.stdout) == (0, "")

    forgot = runner.invoke(app, ["forget", "ADA@example.com", "-c", config], env=ENV)
    assert forgot.exit_code == 0, forgot.output
    assert "1 response(s) deleted, 1 survey(s) scrubbed (0 not yet sent" in forgot.stdout
    assert "sources.hubspot: 1 record(s) will have every ClosedLoop property blanked" in (
        forgot.stdout)
    again = runner.invoke(app, ["forget", "ada@example.com", "-c", config], env=ENV)
    assert again.stdout.strip() == "nothing stored for that address"
    after = runner.invoke(app, ["export", "-c", config, "--format", "jsonl"], env=ENV)
    assert after.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["export", "--format", "xml"], "error: --format: expected one of csv, jsonl, got 'xml'"),
    (["export", "--since", "last week"],
     "error: --since: expected a date such as 2026-11-01, got 'last week'"),
    (["forget", "not-an-address"], "error: forget: expected an e-mail address such as "
     "ada@example.com, got 'not-an-address'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                              message: str) -> None:
    result = CliRunner().invoke(app, [*args, "-c", str(write_config(tmp_path))], env=ENV)
    assert (result.exit_code, result.stderr.strip()) == (2, message)
