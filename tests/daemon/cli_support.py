"""The config file the CLI tests hand to `closedloop` (a module of its own: `conftest` names
clash across test folders)."""

from __future__ import annotations

from pathlib import Path

# Nothing listens on port 9: for commands that never reach the CRM.
NO_CRM = "http://127.0.0.1:9"


def write_config(tmp_path: Path, base_url: str = NO_CRM, extra: str = "") -> Path:
    """One HubSpot source and one CSAT program, state in tmp_path; `extra` TOML is appended
    (more sources, more programs)."""
    path = tmp_path / "config.toml"
    path.write_text(f"""
[daemon]
state_url = "sqlite:///{tmp_path / 'state.db'}"
log_format = "json"
[sources.hubspot]
crm = "hubspot"
base_url = "{base_url}"
[mail]
from_address = "feedback@acme.example"
[[programs]]
name = "support-csat"
type = "csat"
source = "hubspot"
company = "Acme"
{extra}""", encoding="utf-8")
    return path
