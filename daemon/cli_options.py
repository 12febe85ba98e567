"""The options every `closedloop` command that reads the configuration shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigPath = Annotated[Path, typer.Option(
    "--config", "-c", envvar="CLOSEDLOOP_CONFIG", help="The config file (TOML).")]
DEFAULT_CONFIG = Path("config.toml")
