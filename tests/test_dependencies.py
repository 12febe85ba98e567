"""The application installs what it imports: `pip install .` alone must run `closedloop demo`.

Test tools (pytest, responses, time-machine, …) are installed for the suite only, so a module
the application imports but only a test extra provides would pass every test and still break
the README's first command. This reads the application's imports and checks each one against
the runtime dependencies in pyproject.toml.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = ("daemon", "integration", "mappings")


def _imported_top_modules() -> set[str]:
    found: set[str] = set()
    for package in APPLICATION:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - {"closedloop"} - set(sys.stdlib_module_names) - {"__future__"}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_canonical(Requirement(r).name) for r in project["dependencies"]}
    providers = packages_distributions()
    missing = {}
    for module in sorted(_imported_top_modules()):
        dists = {_canonical(d) for d in providers.get(module, [])}
        if not dists:
            pytest.fail(f"{module} is imported by the application but not installed at all")
        if not dists & runtime:
            missing[module] = sorted(dists)
    assert missing == {}, f"imported by the application, missing from dependencies: {missing}"
