"""Idempotent notes on Zendesk: a tickets update_many whose answer was lost is not re-sent.

The sandbox creates the job (the comments land) and answers with a 504 or cuts the
connection. The adapter must not submit it again on its own (it cannot tell), and the next
try, which says `check_first`, finds the notes by their marker among the ticket's comments.
"""

from __future__ import annotations

import pytest

from closedloop.integration.base import TicketUpdate
from closedloop.integration.errors import TransientError
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState
from closedloop.integration.zendesk import ENDPOINTS, ZendeskAdapter

UPDATE_MANY = "/api/v2/tickets/update_many"


def _tickets(state: ZendeskState, n: int) -> list[str]:
    out = []
    for i in range(n):
        user = state.create_user(f"u{i}@example.com", f"U {i}")
        ticket = state.create_ticket(f"T{i}", user)
        out.append(str(ticket))
    return out


def _private(state: ZendeskState, ticket: str) -> list[str]:
    return [c["body"] for c in state.comments(ticket) if not c["public"]]


@pytest.mark.parametrize("lost_as", ["504", "drop"])
def test_a_lost_update_many_answer_is_not_resent_and_the_retry_finds_the_notes(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox,
        lost_as: str) -> None:
    """120 notes (two jobs): the first submit lands but its answer is lost -> TransientError
    and one submit only (before: retried, so every note twice). The next call with
    check_first reads the comments, adds only the notes that are missing, and all 120
    tickets end with exactly one note."""
    tickets = _tickets(zd_state, 120)
    updates = [TicketUpdate(ticket_id=t, add_tags=("closedloop_csat_bad",),
                            note=f"CSAT 1 on {t}", key=f"cl-hook-{i}")
               for i, t in enumerate(tickets)]
    zd_sandbox.set_faults(FaultRates(lost=1.0, lost_as=lost_as, paths=(UPDATE_MANY,)))
    with pytest.raises(TransientError):
        zd_adapter.update_tickets(updates)
    assert zd_sandbox.calls_snapshot()[ENDPOINTS["tickets_update_many"]] == 1
    zd_sandbox.set_faults(None)
    again = [TicketUpdate(u.ticket_id, u.add_tags, u.note, u.key, check_first=True)
             for u in updates]
    result = zd_adapter.update_tickets(again)
    assert sorted(result.written) == sorted(tickets)
    assert [len(_private(zd_state, t)) for t in tickets] == [1] * 120
    assert _private(zd_state, tickets[5]) == [f"CSAT 1 on {tickets[5]}\n\n[cl-hook-5]"]
    assert zd_sandbox.calls_snapshot()[ENDPOINTS["tickets_update_many"]] == 2  # 20 missing


def test_a_429_on_update_many_is_still_retried_at_once(
        zd_adapter: ZendeskAdapter, zd_state: ZendeskState, zd_sandbox: ZendeskSandbox) -> None:
    """A 429 created nothing: the adapter waits and submits again in the same call."""
    tickets = _tickets(zd_state, 2)
    zd_sandbox.fail_next(1, 429, path_prefix=UPDATE_MANY, retry_after=1)
    result = zd_adapter.update_tickets([TicketUpdate(t, note="n", key=f"k{t}") for t in tickets])
    assert sorted(result.written) == sorted(tickets)
    assert [len(_private(zd_state, t)) for t in tickets] == [1, 1]
