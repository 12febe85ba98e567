"""The write-back job's call sizes and partial outcomes, against the real sandboxes.

Each call carries the adapter's `write_batch_size` updates; a call refused whole is halved
without re-sending what landed; a call that ends part way (PartialWrite) settles its written
and refused rows at once and defers only the pending ones, so no ticket note lands twice.
Real store (SQLite and PostgreSQL), real adapters over HTTP; the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closedloop.daemon.jobs import writeback as writeback_job
from closedloop.daemon.jobs.writeback import write_back
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.answers import HOOK_SETTLE
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ENDPOINTS, ZendeskAdapter, _jobs
from closedloop.mappings import load_mapping

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TOKEN = "wb-token"
UPDATE_MANY = ENDPOINTS["tickets_update_many"]
SHOW_MANY = ENDPOINTS["job_statuses_show_many"]


def _policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=1, max_delay=1.0, base=0.01, cap=0.01, sleep=lambda s: None)


class Sleeper:
    """The adapter's injected sleep between job polls; `at(n, action)` runs `action` in the
    n-th sleep after arming, i.e. between two polls, which is when a test changes the CRM."""

    def __init__(self) -> None:
        self.count = 0
        self.actions: dict[int, Callable[[], None]] = {}

    def at(self, n: int, action: Callable[[], None]) -> None:
        self.actions[self.count + n] = action

    def __call__(self, seconds: float) -> None:
        self.count += 1
        action = self.actions.pop(self.count, None)
        if action is not None:
            action()


def _answered(store: Store, source: str, people: list[tuple[str, str | None]],
              at: datetime = T0) -> None:
    """One sent and answered CSAT survey per (contact, ticket)."""
    store.add_sends([NewSend(idem_key=f"{source}-{i}", program="support-csat",
                             survey_type="csat", source=source, contact_id=contact, due_at=at,
                             created_at=at, ticket_id=ticket, email=f"p{i}@example.com")
                     for i, (contact, ticket) in enumerate(people)])
    for send in store.claim_due_sends(at, len(people), timedelta(minutes=5)):
        assert store.begin_sending(send.id, at)
        store.mark_sent(send.id, at, f"<{send.id}@x>")
        store.record_response(send.id, 2, "unsatisfied", at)


@pytest.fixture
def zendesk(monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[ZendeskState, ZendeskSandbox, ZendeskAdapter, Sleeper]]:
    """Zendesk with one job open at a time, so one call's jobs can end differently."""
    monkeypatch.setattr(_jobs, "MAX_IN_FLIGHT", 1)
    state, sleeper = ZendeskState(), Sleeper()
    with ZendeskSandbox(state, rate_limit_per_minute=0, incremental_per_minute=0,
                        search_export_per_minute=0, port=0) as sandbox, \
            ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                           token=sandbox.token, base_url=sandbox.url, retry=_policy(),
                           timeout=(2, 5), sleep=sleeper, job_poll_interval=0.05,
                           job_timeout=5.0) as adapter:
        mapping = load_mapping("zendesk")
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        yield state, sandbox, adapter, sleeper


def test_zendesk_partial_hooks_settle_at_once_and_retry_only_the_pending_tickets(
        store: Store,
        zendesk: tuple[ZendeskState, ZendeskSandbox, ZendeskAdapter, Sleeper]) -> None:
    """250 answers are one contacts call (3 jobs) and, once settled, one hooks call. Zendesk
    says 429 (wait 600 s) to the second hooks job: the first job's 100 tickets have their
    note and their rows are done now; only the other 150 wait 600 s, and the retry sends
    just those (2 jobs). Every ticket ends with exactly one private note."""
    state, sandbox, adapter, sleeper = zendesk
    mapping = load_mapping("zendesk")
    people = [(uid, state.create_ticket(f"t{i}", uid))
              for i, uid in enumerate(state.create_user(f"p{i}@example.com", f"P{i} Doe")
                                      for i in range(250))]
    for _, ticket in people:
        state.solve_ticket(ticket, at=T0 - timedelta(hours=1))
    tickets = [ticket for _, ticket in people]
    _answered(store, "zendesk", people)

    contacts = write_back(store, adapter, mapping, T0 + timedelta(minutes=1))
    assert (contacts.contacts, contacts.deferred) == (250, 0)
    assert adapter.calls_by_endpoint()["users_update_many"] == 3

    due = T0 + HOOK_SETTLE
    sandbox.reset_calls()
    sleeper.at(2, lambda: sandbox.fail_next(1, 429, path_prefix="/api/v2/tickets/update_many",
                                            retry_after=600))
    partial = write_back(store, adapter, mapping, due)

    notes = {t: [c["body"] for c in state.comments(t) if not c["public"]] for t in tickets}
    landed = [t for t in tickets if notes[t]]
    assert (partial.tickets, partial.rows, partial.deferred) == (100, 100, 150)
    assert (len(landed), max(len(n) for n in notes.values())) == (100, 1)
    assert (store.counts()["hooks.done"], store.counts()["hooks.pending"]) == (100, 150)
    assert write_back(store, adapter, mapping, due + timedelta(seconds=599)).tickets == 0

    sandbox.reset_calls()
    retried = write_back(store, adapter, mapping, due + timedelta(seconds=600))

    assert (retried.tickets, retried.deferred) == (150, 0)
    assert sandbox.calls_snapshot()[UPDATE_MANY] == 2  # 150 tickets: the first 100 never again
    assert all(len([c for c in state.comments(t) if not c["public"]]) == 1 for t in tickets)
    assert store.counts()["hooks.done"] == 250


def test_zendesk_writes_a_round_in_one_call_with_shared_polls(store: Store) -> None:
    """The Zendesk adapter takes 3,000 updates a call: 250 contacts are 3 jobs followed
    together, so 2 status polls (working, completed) instead of 2 per job."""
    state = ZendeskState()
    with ZendeskSandbox(state, rate_limit_per_minute=0, incremental_per_minute=0,
                        search_export_per_minute=0, port=0) as sandbox, \
            ZendeskAdapter("zendesk", subdomain=sandbox.subdomain, email=sandbox.email,
                           token=sandbox.token, base_url=sandbox.url, retry=_policy(),
                           timeout=(2, 5), sleep=lambda s: None, job_poll_interval=0.05,
                           job_timeout=5.0) as adapter:
        mapping = load_mapping("zendesk")
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        users = [state.create_user(f"p{i}@example.com", f"P{i} Doe") for i in range(250)]
        _answered(store, "zendesk", [(uid, None) for uid in users])
        sandbox.reset_calls()
        result = write_back(store, adapter, mapping, T0 + timedelta(minutes=1))
        calls = sandbox.calls_snapshot()
    assert adapter.write_batch_size == 3000
    assert (result.contacts, result.rows) == (250, 500)  # an answer and a sent date each
    assert (calls[ENDPOINTS["users_update_many"]], calls[SHOW_MANY]) == (3, 2)


def test_a_big_batch_refused_whole_is_halved_and_nothing_written_is_sent_again(
        store: Store) -> None:
    """An adapter taking 250 updates a call (HubSpot's, widened for the test: 100 + 100 +
    50 inside) has its call refused whole (400 on the first batch, so nothing landed). The
    job halves it: 125 + 125, each written in two batch calls; every contact is written
    once, nothing is rejected, and a second run writes nothing."""
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0, port=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, retry=_policy(),
                                 timeout=(2, 5))
        adapter.write_batch_size = 250
        mapping = load_mapping("hubspot")
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        contacts = [state.create_contact(f"p{i}@example.com", f"P{i}", "Doe")
                    for i in range(250)]
        _answered(store, "hubspot", [(cid, None) for cid in contacts])
        sandbox.reset_calls()
        sandbox.fail_next(1, 400, path_prefix="/crm/v3/objects/contacts/batch/update")

        result = write_back(store, adapter, mapping, T0 + timedelta(minutes=1))
        again = write_back(store, adapter, mapping, T0 + timedelta(minutes=2))

        assert (result.contacts, result.rejected, result.deferred) == (250, 0, 0)
        assert again.contacts == 0
        assert sandbox.calls["POST /crm/v3/objects/contacts/batch/update"] == 5
        ratings = {state.contact(c)["properties"].get("cl_csat_last_rating") for c in contacts}
        assert ratings == {"2"}


def test_a_run_claims_whole_contacts_and_goes_on_past_a_short_claim(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rounds of 3 rows over three contacts of two rows each (a sent date and an answer):
    each round leaves the contact the limit would cut for the next, and the run goes on
    after a round of 2 rows (more were left): one run writes each contact once. Before, c2
    was written in two rounds (4 contact writes); a run stopping at a short round wrote 1."""
    monkeypatch.setattr(writeback_job, "ROWS_PER_ROUND", 3)
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0, port=0) as sandbox:
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, retry=_policy(),
                                 timeout=(2, 5))
        mapping = load_mapping("hubspot")
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        contacts = [state.create_contact(f"p{i}@example.com", f"P{i}", "Doe")
                    for i in range(3)]
        _answered(store, "hubspot", [(cid, None) for cid in contacts])
        result = write_back(store, adapter, mapping, T0 + timedelta(minutes=1))
        ratings = [state.contact(c)["properties"].get("cl_csat_last_rating") for c in contacts]
        assert ((result.contacts, result.rows), ratings,
                store.counts()["writebacks.pending"]) == ((3, 6), ["2", "2", "2"], 0)
