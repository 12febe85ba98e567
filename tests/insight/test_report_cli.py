"""`closedloop report` on a real SQLite state file: table, CSV and JSON carry the same
figures, --chart writes a parseable SVG or a real PNG, and every bad request ends in one
line naming the valid choices with exit code 2 (1 when nothing was found), no traceback."""

from __future__ import annotations

import csv
import io
import json
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.store import Store
from insight.report_support import Seeder

ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "report-token",
       "CLOSEDLOOP_SECRET_KEY": "report-secret-0123456789abcdef"}
WEEK1 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)  # a Tuesday
WEEK2 = WEEK1 + timedelta(days=7)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Two programs on one source, answers in two weeks by two teams."""
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
[[programs]]
name = "csat"
type = "csat"
source = "hubspot"
company = "Acme"
[reporting]
timezone = "Europe/Oslo"
small_sample = 2
""", encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    seed = Seeder(store)
    for score, team in ((10, "a"), (9, "a"), (3, "b")):
        seed.survey(sent_at=WEEK1, score=score, team_id=team)
    seed.survey(sent_at=WEEK1, team_id="b")
    seed.survey(sent_at=WEEK2, score=0, team_id="a")
    seed.survey(sent_at=WEEK2, score=5, program="csat", survey_type="csat")
    store.dispose()
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *args], env=ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def window(config: Path) -> list[str]:
    return ["-c", str(config), "--since", "2026-11-02", "--until", "2026-11-15"]


def test_csv_has_every_figure(config: Path) -> None:
    """Week 1: 3 NPS answers (2 promoters, 1 detractor) of 4 surveys sent; week 2: one
    detractor (change -133.3) and one CSAT answer."""
    code, out, _ = invoke(*window(config), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    got = [(r["period_start"], r["survey_type"], r["answers"], r["score"][:6], r["sent"],
            r["response_rate"][:5], r["change"][:7], r["small_sample"]) for r in rows]
    assert got == [
        ("2026-11-02", "nps", "3", "33.333", "4", "0.75", "", "False"),
        ("2026-11-09", "csat", "1", "100.0", "1", "1.0", "", "True"),
        ("2026-11-09", "nps", "1", "-100.0", "1", "1.0", "-133.33", "True"),
    ]


def test_json_by_segment_with_where(config: Path) -> None:
    """--by team --where team=a: only team a's rows, grouped by team."""
    code, out, _ = invoke(*window(config), "--format", "json", "--by", "team",
                          "--where", "team=a", "--program", "nps")
    data = json.loads(out)
    assert code == 0
    assert data["query"]["filters"] == {"team": ["a"]}
    assert [(r["period_start"], r["segment"], r["answers"], r["score"]) for r in data["rows"]
            ] == [("2026-11-02", "a", 2, 100.0), ("2026-11-09", "a", 1, -100.0)]


def test_table_and_svg_chart(config: Path, tmp_path: Path) -> None:
    """The table names the figures; the SVG parses as XML with one dot per scored period."""
    chart = tmp_path / "trend.svg"
    code, out, err = invoke(*window(config), "--chart", str(chart))
    assert code == 0
    assert ("NPS" in out, "33.3" in out, "75 %" in out) == (True, True, True)
    root = ET.parse(chart).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 3
    assert f"chart written to {chart}" in err


def test_png_chart(config: Path, tmp_path: Path) -> None:
    """The PNG has the signature, an IHDR of the chart's size and real content."""
    chart = tmp_path / "trend.png"
    code, _, _ = invoke(*window(config), "--chart", str(chart), "--format", "csv")
    data = chart.read_bytes()
    assert code == 0
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (860, 2 * (240 + 34 + 36))
    assert 2_000 < len(data) < 500_000


def test_last_weeks_from_today(config: Path) -> None:
    """--last 2w on Wednesday 18 November: weeks of 9 and 16 November."""
    with time_machine.travel(datetime(2026, 11, 18, 12, 0, tzinfo=UTC), tick=False):
        code, out, _ = invoke("-c", str(config), "--last", "2w", "--format", "json")
    assert code == 0
    assert json.loads(out)["query"]["since"] == "2026-11-09"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--by", "shop"], 2, "error: unknown segment 'shop'; expected one of: program, source, "
                          "language, pipeline, brand, team, group, owner, organization, "
                          "owner_at_answer, team_at_answer, group_at_answer"),
    (["--since", "2026-11-20", "--until", "2026-11-01"], 2,
     "error: since (2026-11-20) is after until (2026-11-01); the period is empty"),
    (["--last", "12x"], 2, "error: --last: expected a count and a unit such as 30d, 12w, 6m, "
                           "4q or 1y (d=days, w=weeks, m=months, q=quarters, y=years), got "
                           "'12x'"),
    (["--period", "year"], 2, "error: --period: expected one of day, week, month, quarter, "
                              "got 'year'"),
    (["--format", "xml"], 2, "error: --format: expected one of table, csv, json, got 'xml'"),
    (["--where", "team"], 2, "error: --where: expected SEGMENT=VALUE such as team=support, "
                             "got 'team'"),
    (["--program", "ces"], 2, "error: --program: 'ces' is not a configured program; expected "
                              "one of: nps, csat"),
    (["--chart", "x.gif"], 2, "error: --chart: expected a file name ending in .svg or .png, "
                              "got 'x.gif'"),
    (["--since", "2025-01-01", "--until", "2025-01-31"], 1,
     "error: no survey was sent or answered from 2025-01-01 to 2025-01-31 (Europe/Oslo) with "
     "these filters; try a longer --last or other --where values"),
    (["--since", "2026-11-02", "--until", "2026-11-15", "--where", "team=zz"], 1,
     "error: no survey was sent or answered from 2026-11-02 to 2026-11-15 (Europe/Oslo) with "
     "these filters; try a longer --last or other --where values"),
])
def test_bad_requests(config: Path, args: list[str], code: int, message: str) -> None:
    """Each mistake: one line on stderr naming the valid choices, the right exit code."""
    got, out, err = invoke("-c", str(config), *args)
    assert (got, err.strip(), out) == (code, message, "")


def test_sent_but_unanswered_period_says_so(config: Path, tmp_path: Path) -> None:
    """A period with sends but no answers: rates shown, a note that there are no answers."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    Seeder(store, count=100).survey(sent_at=datetime(2026, 12, 1, 10, tzinfo=UTC))
    store.dispose()
    code, out, err = invoke("-c", str(config), "--since", "2026-11-30", "--until",
                            "2026-12-06", "--format", "csv")
    assert (code, err.strip()) == (0, "note: no answers from 2026-11-30 to 2026-12-06: only "
                                      "sent counts and response rates below")
    assert [r["response_rate"] for r in csv.DictReader(io.StringIO(out))] == ["0.0"]
