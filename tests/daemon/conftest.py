"""Daemon-test fixtures shared by the dispatch and plan tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from closedloop.daemon.delivery.sink import LocalMailSink


@pytest.fixture
def sink() -> Iterator[LocalMailSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it is given."""
    with LocalMailSink() as mail:
        yield mail
