"""`closedloop --version` and `closedloop init`: a new admin's first two commands."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from closedloop.daemon.cli import app
from closedloop.daemon.config import load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")


def test_version_prints_the_installed_distribution_version() -> None:
    """--version answers from the package metadata and exits 0 without a command."""
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"closedloop {version('closedloop')}\n")


def test_init_writes_the_commented_example_to_config_toml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a path, init writes ./config.toml: the repository's example, byte for byte
    (in a source tree the package folder has no copy, so the root's is used), and it loads."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert result.output == ("wrote config.toml: edit it, export the secrets it names, then "
                             "run `closedloop check`\n")
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == EXAMPLE
    assert [p.name for p in load_config(tmp_path / "config.toml").programs] == [
        "support-csat", "billing-ces", "nps-customers"]


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    """An existing file (someone's edited config) is kept, with one line and exit 2;
    --force replaces it."""
    target = tmp_path / "mine.toml"
    target.write_text("# edited by hand\n", encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(app, ["init", str(target)])
    assert (refused.exit_code, refused.output) == (
        2, f"error: {target}: already exists; pass --force to overwrite it\n")
    assert target.read_text(encoding="utf-8") == "# edited by hand\n"
    forced = runner.invoke(app, ["init", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert forced.output == (f"wrote {target}: edit it, export the secrets it names, then run "
                             f"`closedloop check --config {target}`\n")
    assert target.read_text(encoding="utf-8") == EXAMPLE


def test_init_into_a_folder_and_into_a_new_folder(tmp_path: Path) -> None:
    """A folder gets config.toml inside it; a path in a folder that does not exist yet
    creates the folder (e.g. /etc/closedloop/config.toml on a fresh server)."""
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == EXAMPLE
    nested = tmp_path / "etc" / "closedloop" / "config.toml"
    assert runner.invoke(app, ["init", str(nested)]).exit_code == 0
    assert nested.read_text(encoding="utf-8") == EXAMPLE


def test_init_into_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    """A path under a regular file cannot be created: one error line, exit 2, no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["init", str(blocker / "config.toml")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {blocker / 'config.toml'}: cannot write: ")
    assert result.output.count("\n") == 1


def test_a_missing_config_file_points_to_init(tmp_path: Path) -> None:
    """Every command that reads the config says how to get one when the file is missing."""
    missing = tmp_path / "config.toml"
    runner = CliRunner()
    for command in (["check"], ["status"], ["plan"], ["config", "show"]):
        result = runner.invoke(app, [*command, "--config", str(missing)])
        assert (result.exit_code, result.output) == (
            2, f"error: {missing}: file not found (run `closedloop init {missing}` to write a "
               "commented example config there)\n"), command
