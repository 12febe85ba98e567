"""Poll feeds the rules: paused programs queue (held later), cadence ones do not; sampling,
expiry, time zone and organization are decided or stored at poll time.

Real sandbox HubSpot and real hubspot-api-client; real store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from closedloop.daemon.jobs.poll import CURSOR, poll_source
from closedloop.daemon.store import Store
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.base import MemberSelection
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TOKEN = "poll-token"
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")


@pytest.fixture
def state() -> HubSpotState:
    return HubSpotState()


@pytest.fixture
def adapter(state: HubSpotState) -> Iterator[HubSpotAdapter]:
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=1_000_000,
                        search_per_second=1_000_000, port=0) as sandbox:
        yield HubSpotAdapter("hubspot", TOKEN, sandbox.url, start_at=NOW - timedelta(days=30),
                             retry=RetryPolicy(max_attempts=2, max_delay=1.0), timeout=(2, 5))


def close(state: HubSpotState, email: str, at: datetime, **contact: object) -> str:
    cid = state.create_contact(email, "Ada", "Doe", "en", **contact)  # type: ignore[arg-type]
    return state.create_ticket("Printer on fire", cid, closed_at=at)


def poll(store: Store, adapter: HubSpotAdapter, *programs: Program) -> dict[str, int]:
    with time_machine.travel(NOW, tick=False):
        result = poll_source(store, adapter, list(programs), NOW)
    return {"queued": result.queued, **result.skipped}


def test_paused_programs_queue_and_cadence_programs_do_not(
        store: Store, state: HubSpotState, adapter: HubSpotAdapter) -> None:
    """A paused program's rows are queued (held at dispatch); a list NPS is not ticket-fed."""
    close(state, "ada@example.com", NOW - timedelta(hours=2))
    paused = replace(CSAT, name="paused", enabled=False)
    nps = Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme",
                  audience=MemberSelection(list_id="7"))
    assert poll(store, adapter, paused, nps) == {"queued": 1}
    rows = store.due_sends_until(NOW)
    assert [(r.program, r.status) for r in rows] == [("paused", "pending")]


def test_time_zone_organization_and_person_are_stored(
        store: Store, state: HubSpotState, adapter: HubSpotAdapter) -> None:
    close(state, "Ada@Example.com", NOW - timedelta(hours=2), timezone="Europe/Oslo",
          company_id="4242")
    assert poll(store, adapter, CSAT) == {"queued": 1}
    [row] = store.due_sends_until(NOW)
    assert (row.timezone, row.organization_id, row.email_norm) == (
        "Europe/Oslo", "4242", "ada@example.com")


def test_sampled_out_and_expired_are_stored_with_their_reason(
        store: Store, state: HubSpotState, adapter: HubSpotAdapter) -> None:
    """A 40 % sample stores the others as 'sampled_out'; a ticket past expire_after 'expired'."""
    for i in range(50):
        close(state, f"p{i}@example.com", NOW - timedelta(hours=2))
    close(state, "late@example.com", NOW - timedelta(days=3))
    program = replace(CSAT, sample=40.0, expire_after=timedelta(days=2))
    first = poll(store, adapter, program)
    assert first["expired"] == 1
    assert 10 <= first["queued"] <= 30
    assert first["queued"] + first["sampled_out"] == 50
    counts = store.counts()
    assert (counts["skipped.sampled_out"], counts["skipped.expired"]) == (
        first["sampled_out"], 1)
    # A re-read of the same tickets (cursor lost) decides the same and adds nothing.
    store.set_cursor("hubspot", CURSOR, '{"v": 1, "wm": 0, "recent": {}}', NOW)
    assert poll(store, adapter, program) == {"queued": 0}
    assert store.counts()["skipped.sampled_out"] == first["sampled_out"]
