"""The daemon's web server: its process switches threads often enough that a request back
from I/O does not wait out a busy thread's 5-ms GIL slice (bench/answers.py, POST)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from closedloop.daemon.config import parse_config
from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.runtime import build_runtime
from closedloop.daemon.service import SWITCH_INTERVAL, make_server


@pytest.fixture
def switch_interval() -> Iterator[float]:
    before = sys.getswitchinterval()
    yield before
    sys.setswitchinterval(before)


def test_making_the_web_server_shortens_the_switch_interval(
    tmp_path: Path, switch_interval: float
) -> None:
    """Python's default is 5 ms; the daemon's server process runs at SWITCH_INTERVAL (0.5 ms)."""
    config = parse_config({
        "daemon": {"state_url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"hubspot": {"crm": "hubspot", "base_url": "http://127.0.0.1:9"}},
        "mail": {"host": "127.0.0.1", "port": 25, "from_address": "f@acme.example"},
        "programs": [{"name": "csat", "type": "csat", "source": "hubspot", "company": "Acme"}],
    }, "test")
    rt = build_runtime(config, Secrets(secret_key="b" * 40, source_tokens={"hubspot": "t"}))
    try:
        sys.setswitchinterval(0.005)  # Python's default
        make_server(rt, "127.0.0.1", 0)
        assert (sys.getswitchinterval(), SWITCH_INTERVAL) == (pytest.approx(0.0005), 0.0005)
    finally:
        rt.close()
