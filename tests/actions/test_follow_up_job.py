"""The follow-up job on SQLite and PostgreSQL with the real HubSpot adapter and sandbox:
backoff on transient failures, Retry-After on 429, a bounded number of attempts, and a
program without a rule settles its rows as not needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from closedloop.daemon.actions.follow_ups import (
    LEASE,
    MAX_ATTEMPTS,
    process_follow_ups,
    retry_delay,
    start_follow_ups,
)
from closedloop.daemon.actions.rule import FollowUpRule
from closedloop.daemon.rules.business_hours import BusinessHours
from closedloop.daemon.store import NewSend, Store
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday
TASKS_CREATE = "/crm/v3/objects/tasks/batch/create"
RULE = FollowUpRule(program="csat", categories=frozenset({"unsatisfied"}), scores=None,
                    comment="any", deadline=timedelta(hours=1),
                    calendar=BusinessHours(opens=time(9), closes=time(17)), zone="UTC")


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter]]:
    state = HubSpotState()
    with HubSpotSandbox(state, rate_limit_per_10s=0, port=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", sandbox.token, sandbox.url,
                                 retry=RetryPolicy(max_attempts=1, sleep=lambda _: None))
        yield state, sandbox, adapter


def _answered(store: Store, state: HubSpotState, score: int = 1) -> None:
    contact = state.create_contact("a@example.com", "A", "B")
    ticket = state.create_ticket("t", contact, closed_at=T0, owner_id="71000001")
    store.add_sends([NewSend(idem_key="k", program="csat", survey_type="csat",
                             source="hubspot", contact_id=contact, ticket_id=ticket,
                             due_at=T0, created_at=T0)])
    [send] = store.claim_due_sends(T0, 1, timedelta(minutes=5))
    assert store.begin_sending(send.id, T0)
    store.mark_sent(send.id, T0, "<k@x>")
    store.record_response(send.id, score, "unsatisfied" if score < 4 else "satisfied", T0)


def test_transient_failures_back_off_then_give_up_visibly(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, Any]) -> None:
    """A 503 defers the row by retry_delay(attempts): not due a second before, due at it;
    after MAX_ATTEMPTS failed tries the row is rejected with the reason, no task made."""
    state, sandbox, adapter = hubspot
    _answered(store, state)
    now = T0
    for attempt in range(MAX_ATTEMPTS):
        sandbox.fail_next(2, 503, path_prefix=TASKS_CREATE)  # the create and its look-up
        run = process_follow_ups(store, adapter, {"csat": RULE}, now)
        if attempt < MAX_ATTEMPTS - 1:
            assert run.deferred == 1
            wait = retry_delay(attempt)
            assert process_follow_ups(store, adapter, {"csat": RULE},
                                           now + wait - timedelta(seconds=1)).deferred == 0
            now += wait
    [row] = store.follow_up_rows()
    assert row["status"] == "rejected"
    assert f"gave up after {MAX_ATTEMPTS} attempts" in row["last_error"]
    assert state.tasks() == []


def test_rate_limit_waits_retry_after(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, Any]) -> None:
    """A 429 with Retry-After 90 s defers the row 90 s, not the backoff's minute."""
    state, sandbox, adapter = hubspot
    _answered(store, state)
    sandbox.fail_next(1, 429, path_prefix=TASKS_CREATE, retry_after=90)
    assert process_follow_ups(store, adapter, {"csat": RULE}, T0).deferred == 1
    [row] = store.follow_up_rows()
    assert T0 + timedelta(seconds=90) == row["next_attempt_at"].replace(tzinfo=UTC)


def test_program_without_a_rule_needs_nothing(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, Any]) -> None:
    """No rule for the program: settled not_needed, no CRM call."""
    state, _sandbox, adapter = hubspot
    _answered(store, state)
    assert process_follow_ups(store, adapter, {}, T0).not_needed == 1
    assert adapter.call_count() == 0


def test_a_refused_token_defers_without_raising(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, Any]) -> None:
    """A 403 on tasks (a scope missing for tasks alone) defers the row and raises nothing,
    so the runtime never pauses the source (and its answers' write-back) for a task."""
    state, sandbox, adapter = hubspot
    _answered(store, state)
    sandbox.fail_next(1, 403, path_prefix=TASKS_CREATE)
    assert process_follow_ups(store, adapter, {"csat": RULE}, T0).deferred == 1
    [row] = store.follow_up_rows()
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("AuthError")


def test_a_holder_that_died_after_its_create_leaves_one_task(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, Any]) -> None:
    """A pass creates the task and dies before it commits (no settle, no release). Before
    its lease ends nobody takes the row; after it, the next pass looks the external id up
    (the claim it finds lapsed says a create may have landed) and keeps that task: one
    task, row done with its id."""
    state, _sandbox, adapter = hubspot
    _answered(store, state)
    follow = start_follow_ups(store, adapter, {"csat": RULE}, T0)
    assert follow.end is not None
    follow.end()  # the create lands; the daemon dies here
    [task] = state.tasks()

    held = process_follow_ups(store, adapter, {"csat": RULE}, T0 + LEASE - timedelta(seconds=1))
    after = process_follow_ups(store, adapter, {"csat": RULE}, T0 + LEASE)

    assert (held.created, after.created) == (0, 1)
    assert [t["id"] for t in state.tasks()] == [task["id"]]
    [row] = store.follow_up_rows()
    assert (row["status"], row["crm_id"]) == ("done", task["id"])


def test_a_store_error_after_the_create_landed_leaves_one_task(
        store: Store, hubspot: tuple[HubSpotState, HubSpotSandbox, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The task lands, then settling its row fails (the database refuses the write) and the
    pass raises; its release still works. The row comes back possibly created (`lapsed`),
    so the next pass looks the task up instead of creating a second one."""
    state, _sandbox, adapter = hubspot
    _answered(store, state)
    settle = store.settle_follow_up

    def refused(*args: object, **kwargs: object) -> None:
        monkeypatch.setattr(store, "settle_follow_up", settle)  # once
        raise OperationalError("UPDATE follow_ups", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "settle_follow_up", refused)
    with pytest.raises(OperationalError):
        process_follow_ups(store, adapter, {"csat": RULE}, T0)
    [task] = state.tasks()

    assert process_follow_ups(store, adapter, {"csat": RULE}, T0).created == 1
    assert [t["id"] for t in state.tasks()] == [task["id"]]
    [row] = store.follow_up_rows()
    assert (row["status"], row["crm_id"]) == ("done", task["id"])
