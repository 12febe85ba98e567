"""Poll at the expiry edge: a ticket polled exactly `expire_after` after its close is stored
as expired; a second earlier it is queued. Real sandbox HubSpot, real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from closedloop.daemon.jobs.poll import poll_source
from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TOKEN = "edge-token"
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme",
               expire_after=timedelta(days=2))


@pytest.fixture
def sandbox() -> Iterator[tuple[HubSpotState, HubSpotAdapter]]:
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000, port=0) as server:
        yield state, HubSpotAdapter("hubspot", TOKEN, server.url,
                                    start_at=NOW - timedelta(days=30),
                                    retry=RetryPolicy(max_attempts=2, max_delay=1.0),
                                    timeout=(2, 5))


@pytest.mark.parametrize(("age", "expected"), [
    (timedelta(days=2) - timedelta(seconds=1), {"queued": 1}),
    (timedelta(days=2), {"queued": 0, "expired": 1}),  # polled exactly at expiry
    (timedelta(days=2) + timedelta(seconds=1), {"queued": 0, "expired": 1}),
])
def test_poll_exactly_at_expiry(store: Store, sandbox: tuple[HubSpotState, HubSpotAdapter],
                                age: timedelta, expected: dict[str, int]) -> None:
    state, adapter = sandbox
    contact = state.create_contact("ada@example.com", "Ada", "Doe", "en")
    state.create_ticket("Printer on fire", contact, closed_at=NOW - age)
    with time_machine.travel(NOW, tick=False):
        result = poll_source(store, adapter, [CSAT], NOW)
    assert {"queued": result.queued, **result.skipped} == expected
