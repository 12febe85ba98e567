"""The built distributions, as a user gets them: the wheel installed into a fresh venv beside
python-daemon (which also installs `daemon`), then `closedloop` run from that venv.

Builds the wheel and sdist with `python -m build`, or reuses the ones in
$CLOSEDLOOP_TEST_DIST (.ci/run builds and twine-checks them once and hands the folder over).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
FOLDERS = ("daemon", "integration", "mappings")
DATA_SUFFIXES = {".html", ".txt", ".po", ".pot", ".cfg", ".mako", ".toml", ".json", ".js"}


def _run(args: list[str | Path], cwd: Path, timeout: float = 300) -> str:
    """Run a command outside the repository (so nothing in it is importable by accident)."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "CLOSEDLOOP_CONFIG"}}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist): reused from $CLOSEDLOOP_TEST_DIST, else built from this tree."""
    reuse = os.environ.get("CLOSEDLOOP_TEST_DIST")
    folder = Path(reuse) if reuse else tmp_path_factory.mktemp("dist")
    if not reuse:
        _run([sys.executable, "-m", "build", "--outdir", folder, ROOT], cwd=folder)
    wheels, sdists = sorted(folder.glob("*.whl")), sorted(folder.glob("*.tar.gz"))
    assert (len(wheels), len(sdists)) == (1, 1), f"expected one wheel and one sdist in {folder}"
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def venv(dist: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and python-daemon (from the package index) installed."""
    home = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", home / "env"], cwd=home)
    _run([home / "env" / "bin" / "python", "-m", "pip", "install", "-q",
          "--disable-pip-version-check", dist[0], "python-daemon"], cwd=home, timeout=600)
    return home / "env"


def _data_files(*folders: str) -> set[str]:
    """The repository's non-Python files the product reads at run time (templates,
    catalogs, mappings, the migration template), relative to the repository root."""
    return {str(p.relative_to(ROOT)) for folder in folders for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts}


def test_wheel_exposes_only_closedloop_and_carries_the_data(dist: tuple[Path, Path]) -> None:
    """One top-level import name, `closedloop`; every template, catalog and mapping file and
    the example config are inside it."""
    with zipfile.ZipFile(dist[0]) as wheel:
        names = wheel.namelist()
        info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        top_level = wheel.read(info).decode().split()
        example = wheel.read("closedloop/daemon/config.example.toml").decode()
    assert top_level == ["closedloop"]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "closedloop"}
    assert {f"closedloop/{f}" for f in _data_files(*FOLDERS)} <= set(names)
    assert example == EXAMPLE


def test_sdist_is_a_whole_source_release(dist: tuple[Path, Path]) -> None:
    """The sdist holds the example config, LICENSE, the mappings and templates (everything
    the wheel is built from), and the deploy files."""
    with tarfile.open(dist[1]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    wanted = {"config.example.toml", "LICENSE", "README.md", "CHANGELOG.md",
              "Containerfile", "compose.yaml", "closedloop.service",
              "mappings/hubspot.toml", "mappings/zendesk.toml",
              "daemon/delivery/templates/survey.html", "daemon/web/templates/landing.html",
              "tests/run.sh", ".ci/postgres.sh"}
    assert wanted | _data_files(*FOLDERS) <= names


def test_installed_beside_python_daemon_neither_shadows_the_other(venv: Path,
                                                                  tmp_path: Path) -> None:
    """`import daemon` is python-daemon's, `integration` and `mappings` are not importable,
    and ClosedLoop's modules come from the venv (not this checkout)."""
    probe = """
import importlib.util, json
import daemon, closedloop.daemon.cli
print(json.dumps({
    "daemon": daemon.__file__, "daemon_context": hasattr(daemon, "DaemonContext"),
    "integration": importlib.util.find_spec("integration") is not None,
    "mappings": importlib.util.find_spec("mappings") is not None,
    "cli": closedloop.daemon.cli.__file__}))
"""
    found = json.loads(_run([venv / "bin" / "python", "-c", probe], cwd=tmp_path))
    site = str(venv / "lib")
    assert found["daemon"].startswith(site), found
    assert found["daemon"].endswith("/daemon/__init__.py"), found
    assert (found["daemon_context"], found["integration"], found["mappings"]) == (
        True, False, False)
    assert found["cli"].startswith(site), found


def test_installed_commands_version_init_and_demo(venv: Path, dist: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    """`closedloop --version` names the wheel's version, `closedloop init` writes the packaged
    example config, and `closedloop demo --json` runs the whole loop from the installed files."""
    closedloop = venv / "bin" / "closedloop"
    wheel_version = dist[0].name.split("-")[1]
    assert _run([closedloop, "--version"], cwd=tmp_path) == f"closedloop {wheel_version}\n"

    _run([closedloop, "init"], cwd=tmp_path)
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == EXAMPLE

    report = json.loads(_run([closedloop, "demo", "--json"], cwd=tmp_path, timeout=180))
    assert (report["tickets_closed"], report["surveys_sent"], report["surveys_skipped"]) == (
        12, 11, {"no_email": 1})
    assert report["answers"] == report["answers_recorded"] > 0
    assert report["records_updated"] == 11
    # The loop closes from the installed files too (webhook schemas, the demo's receiver).
    assert report["follow_ups_created"] == report["webhook_events"]["follow_up.created"] > 0
    assert report["webhooks_verified"] == report["webhooks_delivered"] > 0
