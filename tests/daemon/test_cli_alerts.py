"""`closedloop alerts test NAME` through a real local receiver; `status` counts dead
alerts; `forget` drops queued alerts that quote the person."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.actions.alerts.job import deliver_alerts, evaluate_alerts
from closedloop.daemon.cli import app
from closedloop.daemon.config import load_config
from closedloop.daemon.store import NewSend, Store

ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "t", "CLOSEDLOOP_SECRET_KEY": "cli-secret-0123456789abcdef"}
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _serve(status: int, reply: bytes) -> tuple[ThreadingHTTPServer, list[Any]]:
    got: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def _config(tmp_path: Path, url_env: str = "SLACK_URL") -> Path:
    return write_config(tmp_path, extra=f"""
[[alerts]]
name = "detractors"
categories = ["unsatisfied"]
channel = "slack"
url_env = "{url_env}"
""")


def test_alerts_test_sends_a_sample_through_slack(tmp_path: Path) -> None:
    """A sample Block Kit message reaches the webhook; the command says so, exit code 0."""
    server, got = _serve(200, b"ok")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        result = CliRunner().invoke(app, ["alerts", "test", "detractors", "--config",
                                          str(_config(tmp_path))], env={**ENV, "SLACK_URL": url})
    finally:
        server.shutdown()
        server.server_close()
    assert (result.exit_code, result.output.strip()) == (
        0, "alerts test detractors: sample delivered through slack to the webhook")
    assert got[0]["blocks"][0]["text"]["text"] == "Test alert from detractors"


def test_alerts_test_failure_says_status_and_reason(tmp_path: Path) -> None:
    """Slack answering 400 invalid_payload: one line with the status and reason, exit 1."""
    server, _ = _serve(400, b"invalid_payload")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        result = CliRunner().invoke(app, ["alerts", "test", "detractors", "--config",
                                          str(_config(tmp_path))], env={**ENV, "SLACK_URL": url})
    finally:
        server.shutdown()
        server.server_close()
    assert (result.exit_code, result.output.strip()) == (
        1, "error: alerts test detractors: the slack channel failed: HTTP 400: invalid_payload")


def test_alerts_test_unknown_rule_and_unreachable_url(tmp_path: Path) -> None:
    """An unknown name lists the rules (exit 2); a closed port is a clear line (exit 1)."""
    config = str(_config(tmp_path))
    unknown = CliRunner().invoke(app, ["alerts", "test", "nope", "--config", config], env=ENV)
    assert (unknown.exit_code, unknown.output.strip()) == (
        2, "error: alerts test: no alert rule named 'nope' (rules: detractors)")
    closed = CliRunner().invoke(app, ["alerts", "test", "detractors", "--config", config],
                                env={**ENV, "SLACK_URL": "http://127.0.0.1:9/x"})
    assert closed.exit_code == 1
    assert closed.output.startswith("error: alerts test detractors: the slack channel failed: "
                                    "cannot reach the receiver")


def test_status_counts_dead_alerts_and_forget_drops_queued_ones(tmp_path: Path) -> None:
    """A dead alert shows in `status --json`; `forget` removes a queued alert quoting the
    person (and reports it) and blanks one already settled."""
    path = _config(tmp_path)
    config = load_config(path)
    store = Store(config.daemon.state_url)
    store.migrate()
    for i, email in enumerate(("ada@example.com", "bob@example.com")):
        store.add_sends([NewSend(idem_key=f"k{i}", program="support-csat", survey_type="csat",
                                 source="hubspot", contact_id=f"c{i}", due_at=T0,
                                 created_at=T0, email=email)])
        store.mark_sent(i + 1, T0, f"<m{i}>")
        store.record_response(i + 1, 1, "unsatisfied", T0)
        store.record_comment(i + 1, f"slow, says {email}", T0)
    evaluate_alerts(store, config.alerts, T0)
    deliver_alerts(store, {}, T0, limit=1)  # the rule has no channel here: ada's goes dead
    store.dispose()
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--json", "--config", str(path)], env=ENV)
    counts = json.loads(status.stdout)
    assert (counts["alerts.pending"], counts["alerts.dead"]) == (1, 1)
    forget = runner.invoke(app, ["forget", "bob@example.com", "--config", str(path)], env=ENV)
    assert "1 queued alert(s) quoting them dropped" in forget.output
    forget = runner.invoke(app, ["forget", "ada@example.com", "--config", str(path)], env=ENV)
    assert forget.exit_code == 0
    store = Store(config.daemon.state_url)
    rows = store.alert_rows()
    store.dispose()
    assert [(r["status"], r["payload"]) for r in rows] == [("dead", {})]
    assert "says" not in str(rows)
