"""Idempotent note creates: a create HubSpot applied but whose answer was lost is not re-sent.

The sandbox applies the notes batch create and then loses the answer (a 504, or the
connection closed with no answer); the adapter's retry must find the notes by their marker
instead of creating them again.
"""

from __future__ import annotations

import pytest

from closedloop.integration.base import TicketUpdate
from closedloop.integration.errors import TransientError
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.retry import RetryPolicy
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

NOTES = "/crm/v3/objects/notes/batch/create"
TOKEN = "sandbox-token"


def _tickets(state: HubSpotState, n: int) -> list[str]:
    return [state.create_ticket(f"t{i}", state.create_contact(f"c{i}@example.com", "C", str(i)))
            for i in range(n)]


def _updates(tickets: list[str], check_first: bool = False) -> list[TicketUpdate]:
    return [TicketUpdate(ticket_id=t, note=f"CSAT 1 for {t}", key=f"cl-hook-{i}",
                         check_first=check_first) for i, t in enumerate(tickets)]


@pytest.mark.parametrize("lost_as", ["504", "drop"])
def test_a_notes_batch_whose_answer_was_lost_is_created_once(
        adapter: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox,
        lost_as: str) -> None:
    """150 notes (two batches); every create is applied and its answer lost. The retry looks
    the markers up and creates nothing more: one note per ticket, all reported written.
    Before: the retry created every note again (two, then three...)."""
    tickets = _tickets(state, 150)
    sandbox.set_faults(FaultRates(lost=1.0, lost_as=lost_as, paths=(NOTES,)))
    result = adapter.update_tickets(_updates(tickets))
    assert sorted(result.written) == sorted(tickets)
    assert [len(state.notes(ticket_id=t)) for t in tickets] == [1] * 150
    assert state.notes(ticket_id=tickets[7])[0]["body"].endswith("<br><br>[cl-hook-7]")
    calls = adapter.calls_by_endpoint()
    assert (calls["notes_create"], calls["ticket_notes"], calls["notes_read"]) == (2, 2, 2)


def test_a_later_run_checks_first_when_an_earlier_outcome_was_unknown(
        sandbox: HubSpotSandbox, state: HubSpotState) -> None:
    """One attempt only: the lost create raises TransientError (the write-back defers the
    rows). The next run's updates say check_first, so notes that landed are found, not
    created again; a note that did not land is created."""
    adapter = HubSpotAdapter("hubspot", TOKEN, sandbox.url, timeout=(2, 5),
                             retry=RetryPolicy(max_attempts=1, sleep=lambda s: None))
    tickets = _tickets(state, 3)
    sandbox.set_faults(FaultRates(lost=1.0, paths=(NOTES,)))
    with pytest.raises(TransientError):
        adapter.update_tickets(_updates(tickets[:2]))
    sandbox.set_faults(None)
    result = adapter.update_tickets(_updates(tickets, check_first=True))
    assert sorted(result.written) == sorted(tickets)
    assert [len(state.notes(ticket_id=t)) for t in tickets] == [1, 1, 1]


def test_a_refused_or_throttled_create_is_retried_without_a_look_up(
        adapter: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """A 429 created nothing: the retry creates at once, no notes are read."""
    tickets = _tickets(state, 2)
    sandbox.fail_next(1, 429, path_prefix=NOTES, retry_after=0)
    adapter.update_tickets(_updates(tickets))
    assert [len(state.notes(ticket_id=t)) for t in tickets] == [1, 1]
    calls = adapter.calls_by_endpoint()
    assert (calls["notes_create"], "ticket_notes" in calls) == (2, False)
