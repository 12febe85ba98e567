"""Logs are key-value events with no customer address and no secret in them."""

from __future__ import annotations

import io
import json
import logging

import pytest

from closedloop.daemon.logging import _ScrubFilter, configure, get_logger


def test_addresses_and_tokens_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """An address in any value, a bearer token and secret-named keys never reach the output."""
    configure("json")
    get_logger(job="test").warning(
        "send.failed", error="550 for ana.lima@example.com", token="pat-na1-abc",
        detail="Authorization: Bearer pat-na1-xyz", nested={"email": "x@y.example", "n": 3})
    event = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert event["event"] == "send.failed"
    assert event["job"] == "test"
    assert event["error"] == "550 for [email]"
    assert event["token"] == "[redacted]"
    assert event["detail"] == "Authorization: Bearer [redacted]"
    assert event["nested"] == {"email": "[email]", "n": 3}


def test_stdlib_logs_are_scrubbed_too() -> None:
    """Third-party stdlib logs go through the same redaction, on every root handler."""
    configure("json")
    root = logging.getLogger()
    assert root.handlers
    assert all(any(isinstance(f, _ScrubFilter) for f in h.filters) for h in root.handlers)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ScrubFilter())
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    try:
        library.error("bad request from %s", "bo@example.org")
        library.error("token %(token)s for %(who)s", {"token": "abc", "who": "cy@example.net"})
    finally:
        library.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "bad request from [email]", "token [redacted] for [email]"]
