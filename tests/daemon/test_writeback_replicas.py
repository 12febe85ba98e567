"""Two write-back daemons on one store: claimed rows, in order, each written once.

Real store (SQLite and PostgreSQL, two Store objects = two processes' pools), real
hubspot-api-client against the sandbox. Replica A is paused *inside* its CRM call by a gate
around the real adapter (the call then goes through unchanged), so the interleavings that
fault injection found by chance happen here every time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closedloop.daemon.jobs.writeback import write_back
from closedloop.daemon.store import NewSend, Store
from closedloop.daemon.store.answers import HOOK_SETTLE
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.base import ContactUpdate, TicketUpdate, WriteResult
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.mappings import CrmMapping, load_mapping

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TOKEN = "wb-token"
UPDATE = "POST /crm/v3/objects/contacts/batch/update"
NOTES = "POST /crm/v3/objects/notes/batch/create"
PROGRAMS = [Program(name="support-csat", type=SurveyType.CSAT, source="hubspot",
                    delay=timedelta(0), company="Acme")]

Hub = tuple[HubSpotState, HubSpotSandbox, HubSpotAdapter, CrmMapping]


class Gated:
    """The real adapter, whose next write waits at a gate until the test opens it."""

    def __init__(self, adapter: HubSpotAdapter, batch: int | None = None) -> None:
        self._adapter = adapter
        self.name = adapter.name
        self.write_batch_size = batch or adapter.write_batch_size
        self.inside = threading.Event()
        self.gate = threading.Event()
        self._once = True

    def _wait(self) -> None:
        if self._once:
            self._once = False
            self.inside.set()
            assert self.gate.wait(20), "the test never opened the gate"

    def write_contacts(self, updates: Sequence[ContactUpdate]) -> WriteResult:
        self._wait()
        return self._adapter.write_contacts(updates)

    def update_tickets(self, updates: Sequence[TicketUpdate]) -> WriteResult:
        self._wait()
        return self._adapter.update_tickets(updates)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


@pytest.fixture
def replica(store: Store) -> Iterator[Store]:
    """A second Store on the same database: another daemon process, with its own pool."""
    other = Store(store.engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


@pytest.fixture
def hubspot() -> Iterator[Hub]:
    state = HubSpotState()
    with HubSpotSandbox(state, token=TOKEN, rate_limit_per_10s=0, port=0) as sandbox:
        policy = RetryPolicy(max_attempts=1, max_delay=1.0, base=0.01, cap=0.01,
                             sleep=lambda s: None)
        adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, retry=policy, timeout=(2, 5))
        mapping = load_mapping("hubspot", programs=PROGRAMS)
        adapter.ensure_properties(mapping.group_name, mapping.group_label, mapping.specs())
        sandbox.reset_calls()
        yield state, sandbox, adapter, mapping


def _sent(store: Store, key: str, contact: str, ticket: str | None = None) -> int:
    store.add_sends([NewSend(idem_key=key, program="support-csat", survey_type="csat",
                             source="hubspot", contact_id=contact, due_at=T0, created_at=T0,
                             ticket_id=ticket, email=f"{key}@example.com")])
    [send] = store.claim_due_sends(T0, 1, timedelta(minutes=5))
    assert store.begin_sending(send.id, T0)
    store.mark_sent(send.id, T0, f"<{key}@x>")
    return send.id


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def test_a_comment_is_never_blanked_by_a_replica_writing_an_older_answer(
        store: Store, replica: Store, hubspot: Hub) -> None:
    """Replica A holds the score (no comment yet) in flight; the comment arrives and replica
    B runs: B must leave that contact alone (A holds it), and the next run writes the
    comment. Unclaimed, B wrote the comment, A then wrote its older blank over it, and
    every row was marked done: the comment was lost from the record for good."""
    state, _, adapter, mapping = hubspot
    contact = state.create_contact("ann@example.com", "Ann", "Doe")
    send = _sent(store, "ann", contact)
    store.record_response(send, 2, "unsatisfied", T0)
    slow = Gated(adapter)
    thread, _ = _in_thread(lambda: write_back(store, slow, mapping, T0))  # type: ignore[arg-type]
    assert slow.inside.wait(10)
    store.record_comment(send, "slow refund", T0 + timedelta(seconds=5))
    during = write_back(replica, adapter, mapping, T0 + timedelta(seconds=6))
    slow.gate.set()
    thread.join(10)
    after = write_back(replica, adapter, mapping, T0 + timedelta(seconds=7))
    props = state.contact(contact)["properties"]
    assert (during.contacts, after.contacts) == (0, 1)
    assert (props["cl_csat_last_rating"], props["cl_csat_last_comment"]) == ("2", "slow refund")
    assert store.counts()["writebacks.pending"] == 0


def test_hook_rows_claimed_by_one_replica_are_not_noted_again_by_another(
        store: Store, replica: Store, hubspot: Hub) -> None:
    """20 answered tickets: while replica A's notes call is in flight, replica B finds
    nothing to claim; every ticket ends with exactly one note (unclaimed: two each)."""
    state, sandbox, adapter, mapping = hubspot
    tickets = []
    for n in range(20):
        contact = state.create_contact(f"p{n}@example.com", "P", str(n))
        ticket = state.create_ticket(f"T{n}", contact)
        state.close_ticket(ticket, at=T0 - timedelta(hours=1))
        send = _sent(store, f"p{n}", contact, ticket)
        store.record_response(send, 1, "unsatisfied", T0)
        tickets.append(ticket)
    due = T0 + HOOK_SETTLE
    write_back(store, adapter, mapping, due - timedelta(seconds=1))  # contacts first
    slow = Gated(adapter)
    thread, _ = _in_thread(lambda: write_back(store, slow, mapping, due))  # type: ignore[arg-type]
    assert slow.inside.wait(10)
    during = write_back(replica, adapter, mapping, due)
    slow.gate.set()
    thread.join(10)
    assert during.tickets == 0
    assert [len(state.notes(ticket_id=t)) for t in tickets] == [1] * 20
    assert (store.counts()["hooks.done"], sandbox.calls[NOTES]) == (20, 1)


def test_a_killed_writers_rows_come_back_when_its_lease_runs_out(store: Store,
                                                                  hubspot: Hub) -> None:
    """Rows claimed by a writer that died are untouchable until the lease ends (both sides
    of the edge), then another writer claims and writes them."""
    state, _, adapter, mapping = hubspot
    contact = state.create_contact("kim@example.com", "Kim", "Doe")
    store.record_response(_sent(store, "kim", contact), 4, "satisfied", T0)
    dead = store.claim_writebacks("hubspot", T0, 100, timedelta(minutes=5))
    assert len(dead.rows) == 2  # 'sent' and 'answer' of one contact
    held = write_back(store, adapter, mapping, T0 + timedelta(minutes=5) - timedelta(seconds=1))
    assert held.contacts == 0
    freed = write_back(store, adapter, mapping, T0 + timedelta(minutes=5))
    assert (freed.contacts, freed.rows) == (1, 2)
    assert state.contact(contact)["properties"]["cl_csat_last_rating"] == "4"
    # The dead writer's token settles nothing any more.
    assert store.mark_writebacks_done([r.id for r in dead.rows], T0, token=dead.token) == 0


def test_a_writer_that_lost_its_lease_stops_before_writing_again(
        store: Store, replica: Store, hubspot: Hub) -> None:
    """Replica A (one contact per call) stalls in its first call past its lease; B takes
    every row and writes both contacts in one call. When A wakes, its renewal fails before
    its second call: two update calls in all, not three, and A settles nothing."""
    state, sandbox, adapter, mapping = hubspot
    contacts = [state.create_contact(f"{n}@example.com", n, "Doe") for n in ("a", "b")]
    for n, contact in enumerate(contacts):
        store.record_response(_sent(store, f"s{n}", contact), 5, "satisfied", T0)
    slow = Gated(adapter, batch=1)
    lease = timedelta(seconds=1)
    thread, out = _in_thread(
        lambda: write_back(store, slow, mapping, T0, lease=lease))  # type: ignore[arg-type]
    assert slow.inside.wait(10)
    taken = write_back(replica, adapter, mapping, T0 + timedelta(seconds=2), lease=lease)
    slow.gate.set()
    thread.join(10)
    assert (taken.contacts, out[0].contacts, out[0].rows) == (2, 0, 0)
    assert sandbox.calls[UPDATE] == 2  # A's first, B's one for both
    assert store.counts()["writebacks.pending"] == 0


def test_a_note_whose_create_answer_was_lost_is_not_added_again_next_round(
        store: Store, hubspot: Hub) -> None:
    """One attempt per call: the notes create lands but its answer is lost, so the round
    defers the hook row. The next round marks the update check_first (the row was tried),
    finds the note by its marker and settles the row without creating a second note."""
    state, sandbox, adapter, mapping = hubspot
    contact = state.create_contact("lou@example.com", "Lou", "Doe")
    ticket = state.create_ticket("Lost answer", contact)
    state.close_ticket(ticket, at=T0 - timedelta(hours=1))
    store.record_response(_sent(store, "lou", contact, ticket), 1, "unsatisfied", T0)
    due = T0 + HOOK_SETTLE
    sandbox.set_faults(FaultRates(lost=1.0, paths=("/crm/v3/objects/notes/batch/create",)))
    first = write_back(store, adapter, mapping, due)
    sandbox.set_faults(None)
    assert (first.tickets, first.deferred, len(state.notes(ticket_id=ticket))) == (0, 1, 1)
    second = write_back(store, adapter, mapping, due + timedelta(hours=1))
    assert (second.tickets, len(state.notes(ticket_id=ticket))) == (1, 1)
    assert (store.counts()["hooks.done"], sandbox.calls[NOTES]) == (1, 1)
