"""`closedloop report themes`: table, CSV and JSON output, filters, bad input and an empty
period (a clear message, exit 0); and the daemon's themes job."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from themes_support import answer, stored
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.config import load_config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.insight.themes.cli import parse_window
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import start_scheduler
from closedloop.daemon.store import Store
from closedloop.integration.errors import ConfigError

NOW = datetime.now(UTC)


def _config(tmp_path: Path, extra: str = "") -> Path:
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
name = "support-csat"
type = "csat"
source = "hubspot"
company = "Acme"
[[programs]]
name = "nps"
type = "nps"
source = "hubspot"
company = "Acme"
{extra}""", encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = _config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    answer(store, "a", 1, "unsatisfied", "=Delivery was late", NOW - timedelta(days=2))
    answer(store, "b", 5, "satisfied", "Fast delivery, friendly courier", NOW - timedelta(days=3))
    answer(store, "c", 2, "unsatisfied", "Le remboursement n'est jamais arrivé",
           NOW - timedelta(days=4), language="fr")
    answer(store, "d", 0, "detractor", "Rude staff", NOW - timedelta(days=5), program="nps",
           survey_type="nps")
    answer(store, "old", 1, "unsatisfied", "Delivery lost", NOW - timedelta(days=40))
    store.dispose()
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", "themes", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_report(config: Path) -> None:
    """The month's themes with counts, shares, unhappy share and the month before."""
    code, out, _ = _run("-c", str(config), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["answers_with_comment"] == 4
    assert data["low_share"] == 0.75
    delivery = {t["theme"]: t for t in data["themes"]}["delivery"]
    assert (delivery["answers"], delivery["share"], delivery["low_share"],
            delivery["previous_answers"]) == (2, 0.5, 0.5, 1)
    assert [q["text"] for q in delivery["quotes"]] == [
        "=Delivery was late", "Fast delivery, friendly courier"]


def test_filters_by_program_and_language(config: Path) -> None:
    code, out, _ = _run("-c", str(config), "--format", "json", "--program", "nps")
    assert (code, [t["theme"] for t in json.loads(out)["themes"]]) == (0, ["staff"])
    code, out, _ = _run("-c", str(config), "--format", "json", "--language", "fr")
    assert [t["theme"] for t in json.loads(out)["themes"]] == ["refund_return"]


def test_csv_report_defuses_formulas(config: Path) -> None:
    """One row per theme; a quote starting with = gets a leading ' (spreadsheets)."""
    code, out, _ = _run("-c", str(config), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    delivery = next(r for r in rows if r["theme"] == "delivery")
    assert (delivery["kind"], delivery["answers"], delivery["share"], delivery["quote_1"]) == (
        "dictionary", "2", "0.5000", "'=Delivery was late")


def test_table_report(config: Path) -> None:
    code, out, _ = _run("-c", str(config), "--sort", "lift")
    assert code == 0
    assert "4 answers with a" in out
    assert "75.0 % unhappy" in out
    assert "Delivery: “=Delivery was late” (support-csat, 1," in out


def test_empty_period_is_a_message_and_exit_0(config: Path) -> None:
    code, out, _ = _run("-c", str(config), "--since", "2020-01-01", "--until", "2020-01-31")
    assert code == 0
    assert out.strip() == ("no answers with a comment between 2020-01-01 00:00 and "
                           "2020-02-01 00:00 UTC (after the filters): no themes to report")
    code, out, _ = _run("-c", str(config), "--since", "2020-01-01", "--until", "2020-01-31",
                        "--format", "json")
    assert (code, json.loads(out)["themes"]) == (0, [])


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xml"], "error: --format: expected one of table, csv, json, got 'xml'"),
    (["--period", "year"], "error: --period: expected one of week, month, quarter, got 'year'"),
    (["--since", "yesterday"], "error: --since: expected a date such as 2026-11-01 or a time "
                               "such as 2026-11-01T12:00, got 'yesterday'"),
    (["--since", "2026-02-01", "--until", "2026-01-01"],
     "error: --since 2026-02-01 00:00 is not before --until 2026-01-02 00:00: the period is "
     "empty"),
    (["--language", "sv"], "error: --language: expected one of en, fr, nb, de, es, got 'sv'"),
    (["--program", "nope"], "error: --program: 'nope' is not a configured program; expected "
                            "one of: support-csat, nps"),
    (["--sort", "best"], "error: --sort: expected one of count, lift, impact, got 'best'"),
])
def test_bad_input_is_one_line_and_exit_2(config: Path, args: list[str], message: str) -> None:
    code, _, err = _run("-c", str(config), *args)
    assert (code, err.strip()) == (2, message)


def test_window_edges() -> None:
    """--until DATE includes that day; --period counts back from --until; --since with
    --period is refused."""
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    window = parse_window(None, "2026-11-30", "week", now)
    assert (window.since, window.until) == (datetime(2026, 11, 24, tzinfo=UTC),
                                            datetime(2026, 12, 1, tzinfo=UTC))
    assert parse_window(None, None, None, now).since == now - timedelta(days=30)
    with pytest.raises(ConfigError, match="give one of them"):
        parse_window("2026-11-01", None, "week", now)


def test_the_daemon_job_assigns_themes(tmp_path: Path) -> None:
    """`closedloop run` has a themes job; one run assigns the answers changed so far."""
    cfg = load_config(_config(tmp_path))
    rt = build_runtime(cfg, Secrets(secret_key="k" * 32, source_tokens={"hubspot": "t"}),
                       clock=lambda: NOW)
    try:
        rt.store.migrate()
        rid = answer(rt.store, "a", 1, "unsatisfied", "Refund please", NOW - timedelta(hours=1))
        result = rt.refresh_themes()
        assert result is not None
        assert (result.responses, stored(rt.store)) == (1, {rid: {"refund_return"}})
        scheduler = start_scheduler(rt, timedelta(hours=1), timedelta(hours=1),
                                    timedelta(hours=1), paused=True)
        try:
            job = scheduler.get_job("themes")
            assert (job.max_instances, job.coalesce) == (1, True)
        finally:
            scheduler.shutdown(wait=False)
    finally:
        rt.close()
