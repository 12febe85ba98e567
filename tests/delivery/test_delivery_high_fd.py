"""The relay check after DATA works on any socket a busy daemon holds: select() refuses a
descriptor numbered 1024 or more (CI hit it: "filedescriptor out of range in select()")."""

from __future__ import annotations

import os
import resource
import smtplib
import socket
from collections.abc import Iterator

import pytest

from closedloop.daemon.delivery.smtp import _peer_spoke

HIGH = 1500


@pytest.fixture
def high_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair whose first end has descriptor number HIGH (> FD_SETSIZE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= HIGH:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    ours, relay = socket.socketpair()
    high = socket.socket(fileno=os.dup2(ours.fileno(), HIGH))
    ours.close()
    try:
        yield high, relay
    finally:
        high.close()
        relay.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _conn(sock: socket.socket) -> smtplib.SMTP:
    conn = smtplib.SMTP()
    conn.sock = sock
    return conn


def test_a_silent_relay_on_a_high_descriptor(high_pair: tuple[socket.socket,
                                                                 socket.socket]) -> None:
    """Nothing from the relay: it did not speak (and no ValueError on fd 1500)."""
    high, _ = high_pair
    assert high.fileno() == HIGH
    assert _peer_spoke(_conn(high)) is False


def test_a_relay_that_spoke_on_a_high_descriptor(high_pair: tuple[socket.socket,
                                                                     socket.socket]) -> None:
    """An out-of-turn reply on fd 1500 is seen as the relay speaking."""
    high, relay = high_pair
    relay.sendall(b"421 closing\r\n")
    assert _peer_spoke(_conn(high)) is True
