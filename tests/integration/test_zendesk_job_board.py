"""Follow-up tickets started before the contact write ride its job polls (_jobs.JobBoard),
over HTTP against the sandbox (real zenpy): the sandbox answers "working" to a job's first
poll and "completed" to its second, as a running Zendesk job does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closedloop.integration.base import ContactUpdate, FollowUp, PropertySpec
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ENDPOINTS, ZendeskAdapter, _jobs

SPECS = [PropertySpec("cl_csat_score", "Last CSAT score", type="integer",
                      field_type="integer")]
DUE = datetime(2026, 5, 1, 16, 0, tzinfo=UTC) + timedelta(hours=4)
CREATE, UPDATE_USERS, POLL, READ = (ENDPOINTS[k] for k in (
    "tickets_create_many", "users_update_many", "job_statuses_show_many",
    "tickets_show_many"))


def _unhappy(state: ZendeskState, n: int) -> tuple[list[FollowUp], list[str]]:
    """`n` customers with a solved ticket each: their follow-ups and their user ids."""
    items, users = [], []
    for i in range(n):
        user = state.create_user(f"u{i}@example.com", f"U{i} Doe")
        ticket = state.create_ticket(f"t{i}", user, status="solved")
        items.append(FollowUp(key=f"k{i}", contact_id=user, ticket_id=ticket,
                              subject="Follow up", body="CSAT 1", due_at=DUE))
        users.append(user)
    return items, users


def test_started_follow_ups_cost_no_poll_of_their_own(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox,
        sleeps: list[float]) -> None:
    """150 follow-ups started (their originals read, 2 show_many, and 2 create_many jobs
    submitted), then the 150 customers' contact write
    (2 users jobs): its 2 show_many polls read all 4 jobs, so ending the follow-ups polls
    nothing: 2 polls in all, where writing them after the contact write takes 4."""
    zd_adapter.ensure_properties("ignored", "ignored", SPECS)
    items, users = _unhappy(zd_state, 150)
    zd_sandbox.reset_calls()

    finish = zd_adapter.start_follow_ups(items)
    written = zd_adapter.write_contacts([ContactUpdate(u, {"cl_csat_score": "1"})
                                         for u in users])
    result = finish()

    assert (len(written.written), len(result.created), result.rejected) == (150, 150, {})
    assert zd_sandbox.calls_snapshot() == {READ: 2, CREATE: 2, UPDATE_USERS: 2,
                                           POLL: 2}
    assert len(sleeps) == 2
    made = {t.external_id: t for t in zd_state.tickets.values() if t.external_id}
    assert {k: str(t.id) for k, t in made.items()} == result.created


def test_started_jobs_hold_their_places_under_the_job_limit(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The job limit shrunk to 2 and held by the 2 started create_many jobs: the contact
    write polls them until they complete (2 polls) before it submits its own 2 jobs (2
    polls more), and ending the follow-ups then polls nothing: 4 polls, where under the
    real limit of 30 it is 2 (above). Everything is written."""
    monkeypatch.setattr(_jobs, "MAX_IN_FLIGHT", 2)
    zd_adapter.ensure_properties("ignored", "ignored", SPECS)
    items, users = _unhappy(zd_state, 150)
    zd_sandbox.reset_calls()

    finish = zd_adapter.start_follow_ups(items)
    submitted = dict(zd_sandbox.calls_snapshot())
    written = zd_adapter.write_contacts([ContactUpdate(u, {"cl_csat_score": "1"})
                                         for u in users])
    result = finish()

    assert submitted == {READ: 2, CREATE: 2}
    assert (len(written.written), len(result.created)) == (150, 150)
    assert zd_sandbox.calls_snapshot() == {READ: 2, CREATE: 2, UPDATE_USERS: 2,
                                           POLL: 4}


def test_a_started_follow_up_ended_alone_polls_its_jobs(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """With no other call in between, ending the follow-ups polls their jobs itself (2
    polls), as write_follow_ups does."""
    items, _ = _unhappy(zd_state, 150)
    zd_sandbox.reset_calls()

    result = zd_adapter.start_follow_ups(items)()

    assert len(result.created) == 150
    assert zd_sandbox.calls_snapshot() == {READ: 2, CREATE: 2, POLL: 2}
