"""A source whose token the CRM refuses is paused; the other source goes on (issue 13).

Two real sandboxes (HubSpot and Zendesk) behind one daemon, one of them given a wrong token:
the other one's surveys still go out, the refused one is called no more and logs once,
/readyz answers 503 naming it, `closedloop status` shows it, and fixing the token resumes it
(at once after a restart; else at the next probe, 5 minutes on, then backing off).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_loop import NO_WINDOWS, SECRET, TOKEN, Clock, HubSpotDriver, ZendeskDriver, free_port
from structlog.testing import capture_logs
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.config import Config, parse_config
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.health import probe_delay
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.daemon.service import BackgroundService

WRONG = "revoked-token"


class Pair:
    """Both sandboxes, the mail sink, the config and a way to (re)start the daemon."""

    def __init__(self, tmp_path: Path, hs: HubSpotDriver, zd: ZendeskDriver,
                 sink: LocalMailSink, clock: Clock, config: Config) -> None:
        self.tmp_path, self.hs, self.zd, self.sink, self.clock = tmp_path, hs, zd, sink, clock
        self.config = config
        self.drivers: dict[str, HubSpotDriver | ZendeskDriver] = {"hubspot": hs, "zendesk": zd}

    @contextmanager
    def daemon(self, bad: str | None = None) -> Iterator[Runtime]:
        """A runtime whose `bad` source has the wrong token; closed at the end."""
        tokens = {name: WRONG if name == bad else TOKEN for name in self.drivers}
        rt = build_runtime(self.config, Secrets(secret_key=SECRET, source_tokens=tokens),
                           clock=self.clock)
        rt.store.migrate()
        try:
            yield rt
        finally:
            rt.close()

    def close_ticket(self, source: str, email: str) -> None:
        driver = self.drivers[source]
        contact = driver.create_contact(email)
        driver.close_ticket(contact, driver.support, self.clock.now - timedelta(seconds=30))

    def config_file(self) -> Path:
        """The same config as a TOML file, for the CLI (strings and numbers only)."""
        lines = [f'[daemon]\nstate_url = "{self.config.daemon.state_url}"\nlog_format = "json"']
        for name, driver in self.drivers.items():
            lines.append(f"[sources.{name}]")
            source = driver.source(self.clock.now)
            lines += [f"{key} = {json.dumps(value)}" for key, value in source.items()]
        lines.append('[mail]\nfrom_address = "feedback@acme.example"')
        for name in self.drivers:
            lines.append(f'[[programs]]\nname = "{name}-csat"\ntype = "csat"\n'
                         f'source = "{name}"\ncompany = "Acme"')
        path = self.tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(start)
    with HubSpotDriver(start) as hs, ZendeskDriver(start) as zd, LocalMailSink(port=0) as sink:
        since = start - timedelta(minutes=10)
        program: dict[str, Any] = {"type": "csat", "delay": "1h", "company": "Acme"}
        config = parse_config({
            "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}",
                       "public_url": f"http://127.0.0.1:{free_port()}"},
            "sources": {"hubspot": hs.source(since), "zendesk": zd.source(since)},
            "mail": {"host": "127.0.0.1", "port": sink.port,
                     "from_address": "feedback@acme.example"},
            "rules": {"quiet_hours": [], "global_cooldown": "0s"},
            "coalescing": NO_WINDOWS,
            "programs": [{"name": "hubspot-csat", "source": "hubspot", **program},
                         {"name": "zendesk-csat", "source": "zendesk", **program}],
        })
        pair = Pair(tmp_path, hs, zd, sink, clock, config)
        with pair.daemon() as rt:  # `closedloop setup`, with the right tokens
            for name, mapping in rt.mappings.items():
                rt.adapters[name].ensure_properties(mapping.group_name, mapping.group_label,
                                                    mapping.specs())
        yield pair


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


@pytest.mark.parametrize("bad", ["hubspot", "zendesk"])
def test_a_refused_token_pauses_its_source_only(pair: Pair, bad: str) -> None:
    """One log line, no more calls, /readyz 503 and `status` name it; the other source's
    survey goes out; a restart with the right token resumes it at once."""
    good = "zendesk" if bad == "hubspot" else "hubspot"
    pair.close_ticket(bad, "ann@example.com")
    pair.close_ticket(good, "bea@example.com")
    with pair.daemon(bad=bad) as rt, capture_logs() as logs:
        web = BackgroundService(rt, port=0)
        web.start(jobs=False)
        try:
            first = rt.poll()
            assert sorted(first) == [good]
            assert first[good].queued == 1
            refused_calls = pair.drivers[bad].total_calls()
            assert refused_calls >= 1  # the 401 (no retry of a refused token)
            for _ in range(3):  # every job, several cycles: the paused source is left alone
                pair.clock.advance(timedelta(minutes=1))
                rt.poll()
                rt.write_back()
                rt.dispatch()
            assert pair.drivers[bad].total_calls() == refused_calls
            pair.clock.advance(timedelta(hours=1))
            assert rt.dispatch().sent == 1
            assert [m["To"] for m in pair.sink.messages] == ["bea@example.com"]

            ready = httpx.get(f"http://127.0.0.1:{web.port}/readyz", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert {name: s["state"] for name, s in ready.json()["sources"].items()} == {
                bad: "paused", good: "ok"}
            assert httpx.get(f"http://127.0.0.1:{web.port}/healthz", timeout=10
                             ).status_code == 200
        finally:
            web.stop()
    paused = events(logs, "source.paused")
    assert [(e["source"], e["job"]) for e in paused] == [(bad, "poll")]
    assert events(logs, "source.failing") == []

    config = str(pair.config_file())
    shown = CliRunner().invoke(app, ["status", "--json", "--config", config])
    assert shown.exit_code == 0, shown.output
    sources = json.loads(shown.stdout)["sources"]
    assert (sources[bad]["state"], sources[bad]["job"], sources[good]["state"]) == (
        "paused", "poll", "ok")
    assert "401" in sources[bad]["error"] or "refused" in sources[bad]["error"].lower()
    table = CliRunner().invoke(app, ["status", "--config", config])
    assert table.exit_code == 0
    assert "paused" in table.stdout

    with pair.daemon() as fixed, capture_logs() as logs:  # restart with the right token
        resumed = fixed.poll()
        assert resumed[bad].queued == 1  # probed at once, though the next check is 5 min off
        assert fixed.store.source_states()[bad].state == "ok"
    assert [e["source"] for e in events(logs, "source.resumed")] == [bad]


def test_a_paused_source_is_probed_later_and_resumes_when_the_crm_takes_the_token(
        pair: Pair) -> None:
    """Probes at 5 minutes, then 10 (backing off), skipping every run in between; the first
    probe after the CRM accepts the token again resumes the source (one log line)."""
    pair.close_ticket("hubspot", "ann@example.com")
    hs = pair.hs
    with pair.daemon(bad="hubspot") as rt, capture_logs() as logs:
        paused_at = pair.clock.now
        rt.poll()
        state = rt.store.source_states()["hubspot"]
        assert (state.state, state.next_check_at, state.failures) == (
            "paused", paused_at + timedelta(minutes=5), 1)
        calls = hs.total_calls()

        pair.clock.advance(timedelta(minutes=5) - timedelta(seconds=1))  # just before
        rt.poll()
        assert hs.total_calls() == calls
        pair.clock.advance(timedelta(seconds=1))  # exactly at the check: probed, still refused
        rt.poll()
        assert hs.total_calls() > calls
        state = rt.store.source_states()["hubspot"]
        assert (state.state, state.failures, state.since) == ("paused", 2, paused_at)
        assert state.next_check_at == pair.clock.now + timedelta(minutes=10)

        hs.sandbox.token = WRONG  # the admin gives the token its access back in the CRM
        calls = hs.total_calls()
        pair.clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
        assert "hubspot" not in rt.poll()
        assert hs.total_calls() == calls
        pair.clock.advance(timedelta(seconds=1))
        assert rt.poll()["hubspot"].queued == 1
        assert rt.store.source_states()["hubspot"].state == "ok"
    assert len(events(logs, "source.paused")) == 1
    assert events(logs, "source.still_paused") == []
    assert len(events(logs, "source.resumed")) == 1


def test_probe_delay_backs_off_to_an_hour() -> None:
    """5 min after the first refusal, doubling per refused probe, never more than an hour."""
    assert [probe_delay(n) for n in (1, 2, 3, 4, 5, 6, 50)] == [
        timedelta(minutes=m) for m in (5, 10, 20, 40, 60, 60, 60)]
