"""The operator's CLI edges: a database from a newer version, the PostgreSQL password from
the environment (daemon.state_password_env), and what `status` counts after `forget`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from alembic.script import ScriptDirectory
from cli_support import write_config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import state_url
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.engine import alembic_config
from closedloop.integration.errors import ConfigError

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
ENV = {"CLOSEDLOOP_HUBSPOT_TOKEN": "ops-token", "CLOSEDLOOP_SECRET_KEY": "ops-secret-0123456789"}
PASSWORD = "p@ss:w/rd%20 ü#"  # every character that breaks a hand-written URL
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _with_state(config: Path, url: str, extra: str = "") -> None:
    lines = [line for line in config.read_text().splitlines()
             if not line.startswith(("state_url", "state_password_env"))]
    at = lines.index("[daemon]") + 1
    lines[at:at] = [f'state_url = "{url}"', *([extra] if extra else [])]
    config.write_text("\n".join(lines) + "\n")


def test_a_database_from_a_newer_version_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`closedloop status` on a database a newer ClosedLoop migrated: exit 2, one line that
    names the database's revision and the newest this program knows (no traceback)."""
    config = write_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    store.dispose()
    run = subprocess.run(
        [sys.executable, "-m", "closedloop.daemon", "status", "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, **ENV}, timeout=60, check=False)
    assert run.returncode == 2
    assert run.stdout == ""
    [line] = run.stderr.strip().splitlines()
    assert line == ("error: the state database has schema revision 0099, which this "
                    f"ClosedLoop does not know (it knows up to {HEAD}): the database was written "
                    "by a newer version; run that version, or point daemon.state_url at "
                    "another database")


def _pg_config(password_env: str | None, url: str = "postgresql://closedloop@db.example/cl"
               ) -> dict[str, object]:
    daemon: dict[str, object] = {"state_url": url}
    if password_env:
        daemon["state_password_env"] = password_env
    return {"daemon": daemon, "sources": {"hubspot": {"crm": "hubspot"}},
            "mail": {"from_address": "feedback@acme.example"},
            "programs": [{"name": "p", "type": "csat", "source": "hubspot", "company": "A"}]}


def test_state_password_env_goes_into_the_url_percent_encoded() -> None:
    """Any character works in the password: the URL carries it encoded, and reads it back."""
    config = parse_config(_pg_config("CL_DB_PASSWORD"))
    url = state_url(config, {"CL_DB_PASSWORD": PASSWORD})
    assert make_url(url).password == PASSWORD
    assert (make_url(url).host, make_url(url).database) == ("db.example", "cl")
    assert state_url(parse_config(_pg_config(None)), {}) == "postgresql://closedloop@db.example/cl"


def test_state_password_env_unset_is_named() -> None:
    config = parse_config(_pg_config("CL_DB_PASSWORD"))
    with pytest.raises(ConfigError) as error:
        state_url(config, {})
    assert error.value.problems == [
        "daemon.state_password_env: environment variable CL_DB_PASSWORD is not set (expected "
        "the PostgreSQL password of daemon.state_url)"]


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://closedloop:hunter2@db.example/cl",
     "config: daemon: both state_url and state_password_env give a password: remove it from "
     "state_url and keep it only in the environment variable"),
    ("sqlite:///closedloop.db",
     "config: daemon: state_password_env is for a PostgreSQL state_url; this one is SQLite, "
     "which has no password (remove state_password_env)"),
])
def test_a_password_in_two_places_or_for_sqlite_is_refused(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_pg_config("CL_DB_PASSWORD", url))
    assert error.value.problems == [expected]
    assert "hunter2" not in str(error.value)


def test_status_on_postgresql_with_the_password_from_the_environment(
        tmp_path: Path, pg_url: str) -> None:
    """A real PostgreSQL: the URL in the file has no password, the variable gives it; `config
    show` and a failing connection never print it."""
    config = write_config(tmp_path)
    _with_state(config, pg_url, 'state_password_env = "CL_DB_PASSWORD"')
    env = {**ENV, "CL_DB_PASSWORD": PASSWORD}
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--json", "--config", str(config)], env=env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["sends.pending"] == 0
    shown = runner.invoke(app, ["config", "show", "--config", str(config)], env=env)
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["daemon"]["state_password_env"] == "CL_DB_PASSWORD"
    assert PASSWORD not in shown.output
    missing = runner.invoke(app, ["status", "--config", str(config)], env=ENV)
    assert (missing.exit_code, missing.output.strip()) == (
        2, "error: daemon.state_password_env: environment variable CL_DB_PASSWORD is not set "
           "(expected the PostgreSQL password of daemon.state_url)")
    nobody = urlsplit(pg_url)._replace(netloc=f"{urlsplit(pg_url).username}@127.0.0.1:1")
    _with_state(config, nobody.geturl(), 'state_password_env = "CL_DB_PASSWORD"')
    down = runner.invoke(app, ["status", "--config", str(config)], env=env)
    assert down.exit_code == 1
    assert down.output.startswith("error: the state database cannot be used (")
    assert PASSWORD not in down.output
    assert "p%40ss" not in down.output


def test_check_names_a_missing_state_password(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    _with_state(config, "postgresql://cl@127.0.0.1:1/cl", 'state_password_env = "CL_DB_PW"')
    result = CliRunner().invoke(app, ["check", "--config", str(config)], env=ENV)
    assert result.exit_code == 2
    assert "daemon.state_password_env: environment variable CL_DB_PW is not set" in result.output


def test_status_after_forget_keeps_past_counts_and_shows_preferences(tmp_path: Path) -> None:
    """`status --json` and the table: write-backs made stay counted after `forget`; the
    unsubscribe and snooze counts are there."""
    config = write_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    store.add_sends([NewSend(idem_key=k, program="support-csat", survey_type="csat",
                             source="hubspot", contact_id=f"c-{k}", due_at=NOW,
                             created_at=NOW, email=f"{k}@example.com") for k in "abc"])
    for send in store.claim_due_sends(NOW, 10, timedelta(minutes=1)):
        assert store.begin_sending(send.id, NOW)
        store.mark_sent(send.id, NOW, f"<{send.id}@x>")
    store.mark_writebacks_done([w.id for w in store.pending_writebacks("hubspot", NOW, 100)],
                               NOW)
    store.record_preference(2, "unsubscribe", None, NOW)
    store.record_preference(3, "snooze", datetime.now(UTC) + timedelta(days=30), NOW)
    store.dispose()
    runner = CliRunner()
    before = json.loads(runner.invoke(app, ["status", "--json", "--config", str(config)],
                                      env=ENV).stdout)
    forgot = runner.invoke(app, ["forget", "a@example.com", "--config", str(config)], env=ENV)
    assert forgot.exit_code == 0, forgot.output
    after = json.loads(runner.invoke(app, ["status", "--json", "--config", str(config)],
                                     env=ENV).stdout)
    assert before["writebacks.done"] == after["writebacks.done"] == 3
    assert (after["suppressions.unsubscribed"], after["suppressions.snoozed"]) == (1, 1)
    assert after["sources"] == {"hubspot": {"state": "ok", "job": None, "error": None,
                                            "since": None, "next_check_at": None,
                                            "failures": 0}}
    table = runner.invoke(app, ["status", "--config", str(config)], env=ENV)
    assert "suppressions.unsubscribed" in table.stdout
    assert "suppressions.snoozed" in table.stdout
