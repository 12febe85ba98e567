"""One ticket read serves two purposes (daemon/jobs/attribution.reopened_filling), on each
CRM: dispatch's reopen check fills its call's spare room with the tickets of answers whose
hook waits unattributed, so the hook's own attribution read costs nothing later."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from e2e_loop import Loop

from closedloop.daemon.jobs import dispatch
from closedloop.daemon.store.answers import HOOK_SETTLE

READ = {"hubspot": "POST /crm/v3/objects/tickets/batch/read",
        "zendesk": "GET /api/v2/tickets/show_many.json"}


def _answered_then_due(loop: Loop) -> tuple[int, str]:
    """Ada's survey goes out, her ticket passes to owner B, she answers; Bo's survey comes
    due an hour later while Ada's ticket hook waits. Returns (Ada's send id, owner B)."""
    ada, _ = loop.close_ticket("ada@example.com")
    loop.rt.poll()
    loop.clock.advance(timedelta(hours=1))
    assert loop.rt.dispatch().sent == 1
    owner_b, _ = loop.crm.reassign(ada)
    loop.close_ticket("bo@example.com", first="Bo", ago=timedelta(seconds=10))
    loop.rt.poll()
    loop.rt.store.record_response(1, 2, "unsatisfied", loop.clock.now)
    loop.rt.write_back()  # the answer reaches the contact; the hook waits HOOK_SETTLE
    loop.clock.advance(HOOK_SETTLE - timedelta(seconds=1))
    return 1, owner_b


def _bo_sent(loop: Loop) -> tuple[int, str, Any]:
    """Bo's survey goes out an hour later (its reopen check is the only read); returns Ada's
    answer id, owner B and her answer's attribution as stored then."""
    send_id, owner_b = _answered_then_due(loop)
    loop.clock.advance(timedelta(hours=1))
    loop.crm.reset_calls()
    assert loop.rt.dispatch().sent == 1
    got = loop.rt.store.attributed_response(send_id)
    assert got is not None
    return send_id, owner_b, got


def test_the_reopen_check_reads_a_waiting_hooks_attribution(loop: Loop) -> None:
    """Bo's reopen check (one read call) also reads who holds Ada's ticket (owner B) and
    stores it; Ada's hook then lands with no read of its own: one read for both."""
    _, owner_b, got = _bo_sent(loop)
    assert (loop.crm.calls(READ[loop.source]), got.owner_id_at_answer) == (1, owner_b)
    hooked = loop.rt.write_back()[loop.source]
    assert (hooked.tickets, hooked.attributed, loop.crm.calls(READ[loop.source])) == (1, 0, 1)


def test_a_full_reopen_check_leaves_the_attribution_to_the_hook(
        loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the reopen check's call is full (here: a batch of 1), it reads no attribution;
    the hook reads it itself, owner B all the same: two reads."""
    monkeypatch.setattr(dispatch, "REOPEN_BATCH", 1)
    send_id, owner_b, got = _bo_sent(loop)
    assert (loop.crm.calls(READ[loop.source]), got.owner_id_at_answer) == (1, None)
    hooked = loop.rt.write_back()[loop.source]
    got = loop.rt.store.attributed_response(send_id)
    assert got is not None
    assert (hooked.tickets, hooked.attributed, loop.crm.calls(READ[loop.source]),
            got.owner_id_at_answer) == (1, 1, 2, owner_b)
