"""Two daemons on one store poll a source once: the job lock (jobs/locks.py) end to end.

Each replica is a runtime of its own (its own adapters, pool and lock holder id) on the
loop's database and sandbox CRM, for HubSpot and for Zendesk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from e2e_loop import SECRET, Loop

from closedloop.daemon.env_secrets import Secrets
from closedloop.daemon.runtime import Runtime, build_runtime
from closedloop.integration.base import TicketPage


def _replica(loop: Loop) -> Runtime:
    secrets = Secrets(secret_key=SECRET, source_tokens={loop.source: loop.crm.secrets()})
    return build_runtime(loop.config, secrets, clock=loop.clock)


class _Paused:
    """A source whose poll stops inside its first page until the test lets it go on."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self.inside = threading.Event()
        self.gate = threading.Event()

    def closed_tickets(self, cursor: str | None, contacts: bool = True) -> Iterator[TicketPage]:
        for page in self._adapter.closed_tickets(cursor, contacts):
            self.inside.set()
            assert self.gate.wait(20)
            yield page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


def test_a_second_replica_does_not_poll_while_the_first_polls(loop: Loop) -> None:
    """While replica A is inside its poll, replica B's poll reads nothing from the CRM and
    queues nothing; A queues the surveys. Without a lock, B read the same pages too."""
    loop.close_ticket("ann@example.com")
    other = _replica(loop)
    try:
        paused = _Paused(loop.rt.adapters[loop.source])
        loop.rt.adapters[loop.source] = paused
        out: list[Any] = []
        thread = threading.Thread(target=lambda: out.append(loop.rt.poll()), daemon=True)
        thread.start()
        assert paused.inside.wait(10)
        before = loop.crm.total_calls()
        assert other.poll() == {}
        assert loop.crm.total_calls() == before
        paused.gate.set()
        thread.join(10)
        assert out[0][loop.source].queued == 1
    finally:
        other.close()


def test_a_replica_skips_a_poll_another_finished_within_the_interval(loop: Loop) -> None:
    """B skips a poll A finished less than 0.9 x poll_every ago (both sides of that edge),
    and A itself polls again whenever it is asked: one replica polls as often as before."""
    every = loop.config.daemon.poll_every
    loop.close_ticket("bob@example.com")
    other = _replica(loop)
    try:
        assert loop.rt.poll()[loop.source].queued == 1
        loop.clock.advance(every * 0.9 - timedelta(seconds=1))
        calls = loop.crm.total_calls()
        assert other.poll() == {}
        assert loop.crm.total_calls() == calls
        assert loop.source in loop.rt.poll()  # the same replica is never held back
        loop.clock.advance(every * 0.9)
        assert other.poll()[loop.source].queued == 0
        assert loop.crm.total_calls() > calls
    finally:
        other.close()
