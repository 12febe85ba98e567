"""`[[webhooks]]` in the config (clear errors, secrets from the environment, redacted) and
the CLI: `closedloop webhooks replay` and the per-endpoint counts of `closedloop status`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.config import parse_config, redacted
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.store import NewSend, Route, Store
from closedloop.integration.errors import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENV = {"CLOSEDLOOP_SECRET_KEY": "k" * 32, "CLOSEDLOOP_HUBSPOT_TOKEN": "pat-na1-x",
       "HOOK_SECRET": SECRET}


def _config(*hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [{"name": "csat", "type": "csat", "source": "hubspot", "company": "Acme"}],
        "webhooks": list(hooks),
    }


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    return info.value.problems


def test_a_valid_endpoint_defaults_to_every_event() -> None:
    """url, secret_env and a name suffice: every event, every program, a 10 s timeout."""
    config = parse_config(_config({"name": "crm-sync", "url": "https://hooks.example/x",
                                   "secret_env": "HOOK_SECRET"}))
    [hook] = config.webhooks
    assert (len(hook.events), hook.programs, hook.timeout) == (6, None, timedelta(seconds=10))


def test_each_bad_key_is_one_clear_line() -> None:
    """Unknown event, bad URL, missing secret_env, duplicate name, unknown program, a timeout
    out of range: one line each, naming the key."""
    problems = _problems(_config(
        {"name": "a", "url": "ftp://x", "secret_env": "S", "events": ["response.create"]},
        {"name": "a", "url": "https://x.example", "programs": ["nps"], "timeout": "5m",
         "secret_env": "S"},
        {"name": "b", "url": "https://x.example"}))
    text = "\n".join(problems)
    assert "config.toml: webhooks[0].url: expected an http(s) URL" in text
    assert "config.toml: webhooks[0].events[0]: Input should be 'survey.sent'" in text
    assert "config.toml: webhooks[1].timeout: expected a timeout between 1s and 60s" in text
    assert "config.toml: webhooks[2].secret_env: required key is missing" in text
    assert "config.toml: webhooks[1].name: 'a' is used by an earlier webhook" in text
    assert "config.toml: webhooks[1].programs: 'nps' is not a configured program" in text


def test_secret_comes_from_the_environment_checked_and_never_printed() -> None:
    """Unset or not a whsec_ base64 secret: one line naming the variable; a good one stays
    a SecretStr, out of repr and out of `config show`."""
    config = parse_config(_config({"name": "crm-sync", "url": "https://u:pw@hooks.example/x",
                                   "secret_env": "HOOK_SECRET"}))
    base = {k: v for k, v in ENV.items() if k != "HOOK_SECRET"}
    for value in (None, "whsec_not base64!", "whsec_c2hvcnQ="):
        env = base if value is None else {**base, "HOOK_SECRET": value}
        with pytest.raises(ConfigError) as info:
            read_secrets(config, env=env)
        assert [p.split(":")[0] for p in info.value.problems] == [
            "webhooks.crm-sync.secret_env"]
    secrets = read_secrets(config, env=ENV)
    assert secrets.webhook_secrets["crm-sync"].get_secret_value() == SECRET
    assert SECRET not in repr(secrets)
    shown = json.dumps(redacted(config))
    assert (SECRET in shown, "pw@" in shown) == (False, False)


def test_replay_and_status_from_the_command_line(tmp_path: Path) -> None:
    """`status` shows pending/delivered/dead per endpoint; `webhooks replay --dead` queues
    the dead one again, `--event` one event, `--since` after a date; bad input is exit 2."""
    config = write_config(tmp_path, extra="""
[[webhooks]]
name = "crm-sync"
url = "https://hooks.example/x"
secret_env = "HOOK_SECRET"
""")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    t0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
    for key in ("a", "b"):
        store.add_sends([NewSend(key, "support-csat", "csat", "hubspot", f"c-{key}", t0, t0,
                                 email=f"{key}@example.com")])
        [send] = store.claim_due_sends(t0, 1, timedelta(minutes=1))
        store.begin_sending(send.id, t0)
        store.mark_sent(send.id, t0, f"<{key}>")
    store.route_events([Route("crm-sync", frozenset({"survey.sent"}))], t0)
    first, second = store.claim_deliveries(t0, 10, timedelta(minutes=1))
    store.settle_delivery(first, t0, status="dead", http_status=410)
    store.settle_delivery(second, t0, status="delivered", http_status=200)
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--json", "-c", str(config)], env=ENV)
    counts = json.loads(status.stdout)
    assert [counts[f"webhooks.crm-sync.{s}"] for s in ("pending", "delivered", "dead")] == [
        0, 1, 1]
    human = runner.invoke(app, ["status", "-c", str(config)], env=ENV)
    assert "closedloop webhooks replay --dead" in human.output
    replay = runner.invoke(app, ["webhooks", "replay", "--dead", "-c", str(config)], env=ENV)
    assert (replay.exit_code, replay.stdout.strip()) == (0, "1 webhook delivery(ies) queued "
                                                           "again")
    one = runner.invoke(app, ["webhooks", "replay", "--event", "evt_2", "-c", str(config)],
                        env=ENV)
    later = runner.invoke(app, ["webhooks", "replay", "--since", "2026-11-21", "-c",
                                str(config)], env=ENV)
    assert (one.stdout.strip(), later.stdout.strip()) == (
        "1 webhook delivery(ies) queued again", "0 webhook delivery(ies) queued again")
    bad = runner.invoke(app, ["webhooks", "replay", "--event", "42x", "-c", str(config)],
                        env=ENV)
    assert bad.exit_code == 2
    assert "--event: expected an event id such as evt_42, got '42x'" in bad.output
    assert [r["status"] for r in store.delivery_rows()] == ["pending", "pending"]
    store.dispose()
