"""`[widget.sites.NAME]` in the config: origins, programs (channel = "web"), secrets; and the
poll never queues an in-page program's surveys by e-mail."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from widget_support import running

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import read_secrets
from closedloop.daemon.jobs.poll import ticket_programs
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.web.widget.identity import identity_hash
from closedloop.daemon.web.widget.settings import widget_sites
from closedloop.integration.errors import ConfigError

SECRET = "s" * 40


def config(**site: Any) -> dict[str, Any]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"from_address": "feedback@acme.example"},
        "programs": [
            {"name": "csat", "type": "csat", "source": "hubspot", "company": "Acme"},
            {"name": "web-nps", "type": "nps", "source": "hubspot", "company": "Acme",
             "channel": "web", "cooldown": "90d"},
        ],
        "widget": {"sites": {"acme": {"origins": ["https://app.acme.com"],
                                      "programs": ["web-nps"], **site}}},
    }


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "c.toml")
    return info.value.problems


def test_a_site_parses_with_defaults_and_its_secret_from_the_environment() -> None:
    """Origins normalized (host lower-case, no trailing slash); not_now defaults to 14 days;
    the secret comes from CLOSEDLOOP_WIDGET_ACME_SECRET and never prints."""
    parsed = parse_config(config(origins=["https://App.Acme.com/"]))
    sites = widget_sites(parsed.widget, {"CLOSEDLOOP_WIDGET_ACME_SECRET": SECRET})
    acme = sites["acme"]
    assert (acme.origins, acme.programs, acme.not_now) == (
        frozenset({"https://app.acme.com"}), ("web-nps",), timedelta(days=14))
    assert acme.secret == SECRET.encode()
    assert SECRET not in repr(acme)
    assert parsed.program_list()[1].channel == "web"


def test_missing_or_short_secret_is_a_config_error() -> None:
    """Unset, or shorter than 32 characters (31 refused, 32 accepted)."""
    parsed = parse_config(config(secret_env="ACME_WIDGET"))
    for env in ({}, {"ACME_WIDGET": "x" * 31}):
        with pytest.raises(ConfigError) as info:
            widget_sites(parsed.widget, env)
        assert info.value.problems[0].startswith("widget.sites.acme.secret_env: environment "
                                                 "variable ACME_WIDGET ")
    assert widget_sites(parsed.widget, {"ACME_WIDGET": "x" * 32})["acme"].secret == b"x" * 32


@pytest.mark.parametrize(("site", "expected"), [
    ({"origins": ["https://app.acme.com/path"]}, "widget.sites.acme.origins[0]: expected an "
     "origin such as https://app.example.com (scheme, host and optional port, no path), got "
     "'https://app.acme.com/path'"),
    ({"origins": []}, "widget.sites.acme.origins: list at least one"),
    ({"programs": ["csat"]}, "widget.sites.acme.programs: 'csat' is an e-mail program; set "
     "channel = \"web\" on it (closed tickets then never mail it)"),
    ({"programs": ["nope"]}, "widget.sites.acme.programs: 'nope' is not a configured "
     "program; expected some of: csat, web-nps"),
    ({"not_now": "0s"}, "widget.sites.acme.not_now: expected a positive duration such as "
     "\"14d\" (got '0s')"),
])
def test_bad_sites_get_one_clear_line(site: dict[str, Any], expected: str) -> None:
    """Each mistake names its key and what was expected."""
    assert [p.removeprefix("c.toml: ") for p in problems_of(config(**site))] == [expected]


def test_a_web_program_has_no_nps_audience() -> None:
    """An in-page program with a list would never be shown on a cadence: refused."""
    data = config()
    data["programs"][1]["list_id"] = "42"
    assert problems_of(data) == ["c.toml: programs[1]: an in-page program (channel = \"web\") "
                                 "has no NPS audience; remove list_id, organization_id, tag "
                                 "or query"]


def test_closed_tickets_never_feed_an_in_page_program() -> None:
    """The poll (and plan) queue e-mail surveys only for e-mail programs."""
    programs = parse_config(config()).program_list()
    assert [p.name for p in ticket_programs(programs, "hubspot")] == ["csat"]


def test_the_daemon_serves_the_widget_of_its_configured_sites(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build_runtime reads each site's secret; the web app then serves widget.js and the
    API (a verified visitor ClosedLoop never met gets no survey); unset secret: ConfigError."""
    data = config()
    data["daemon"] = {"state_url": f"sqlite:///{tmp_path / 'state.db'}"}
    data["sources"]["hubspot"]["base_url"] = "http://127.0.0.1:9"
    parsed = parse_config(data)
    secrets = read_secrets(parsed, env={"CLOSEDLOOP_SECRET_KEY": "k" * 32,
                                        "CLOSEDLOOP_HUBSPOT_TOKEN": "pat"})
    monkeypatch.delenv("CLOSEDLOOP_WIDGET_ACME_SECRET", raising=False)
    with pytest.raises(ConfigError):
        build_runtime(parsed, secrets).close()
    monkeypatch.setenv("CLOSEDLOOP_WIDGET_ACME_SECRET", SECRET)
    rt = build_runtime(parsed, secrets)
    rt.store.migrate()
    try:
        with running(rt.web_app()) as client:
            script = client.get("/widget.js")
            check = client.post("/widget/v1/acme/check", headers={
                "Origin": "https://app.acme.com"}, json={
                "email": "ana@example.com",
                "hash": identity_hash(SECRET.encode(), "ana@example.com")})
    finally:
        rt.close()
    assert script.status_code == 200
    assert (check.status_code, check.json()) == (200, {"survey": None,
                                                       "reason": "unknown_contact"})


def test_cli_check_reports_a_missing_site_secret(tmp_path: Path) -> None:
    """`closedloop check` names the unset widget secret beside the others (exit 2)."""
    path = tmp_path / "config.toml"
    path.write_text('[sources.hubspot]\ncrm = "hubspot"\n[mail]\nfrom_address = "a@b.example"\n'
                    '[[programs]]\nname = "p"\ntype = "nps"\nsource = "hubspot"\ncompany = "A"\n'
                    'channel = "web"\n[widget.sites.acme]\norigins = ["https://app.acme.com"]\n'
                    'programs = ["p"]\n')
    env = {"PATH": "/usr/bin:/bin", "CLOSEDLOOP_SECRET_KEY": "k" * 32,
           "CLOSEDLOOP_HUBSPOT_TOKEN": "pat"}
    run = subprocess.run([sys.executable, "-m", "closedloop.daemon", "check", "--config",
                          str(path)], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: widget.sites.acme.secret_env: environment variable CLOSEDLOOP_WIDGET_ACME_SECRET "
        "is not set (expected a long random string, e.g. from `python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'`)"]
    ok = subprocess.run([sys.executable, "-m", "closedloop.daemon", "check", "--config",
                         str(path)], capture_output=True, text=True, check=False,
                        env={**env, "CLOSEDLOOP_WIDGET_ACME_SECRET": SECRET})
    assert ok.returncode == 0
