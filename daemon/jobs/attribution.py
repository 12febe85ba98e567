"""Attribution at rating time: who holds each answer's ticket when its hook is first written.

The poll stored the owner/assignee and team/group at close. Before an answer's first ticket
hook, the write-back asks the adapter who holds the ticket now (`ticket_attribution`, 100
tickets per call) and stores it beside (Store.record_attribution). Each answer is read
once: answers already attributed (an earlier round, a retried hook, a re-score) are not
read again, so the figure is the one at rating time and a retry costs no extra call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from closedloop.daemon.jobs.held import Held
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store, WriteBackRecord
from closedloop.integration.base import Attribution, CRMAdapter
from closedloop.integration.errors import RecordRejected


def attribute_answers(store: Held, adapter: CRMAdapter, rows: Sequence[WriteBackRecord],
                      now: datetime) -> int:
    """Read and store who holds the tickets of these hook rows' answers; how many stored.

    A ticket the CRM no longer returns (deleted) is stored as nobody. TransientError and
    AuthError from the read propagate (the caller defers the hook rows, so the attribution
    is still read before the hook lands); a read the CRM refuses outright is logged and
    skipped, never blocking the hook.
    """
    ticket_of = {r.send_id: str(r.data["ticket_id"]) for r in rows
                 if r.send_id is not None and r.data.get("ticket_id")}
    todo = store.unattributed_sends(list(ticket_of))
    if not todo:
        return 0
    store.keep()  # never call the CRM for rows another writer may hold by now
    try:
        found = adapter.ticket_attribution(sorted({ticket_of[s] for s in todo}))
    except RecordRejected as exc:
        get_logger(job="writeback").warning("writeback.attribution_refused", error=str(exc))
        return 0
    pairs: dict[int, tuple[str | None, str | None]] = {}
    for send_id in todo:
        who = found.get(ticket_of[send_id])
        pairs[send_id] = (who.owner_id, who.team_id) if who else (None, None)
    return store.record_attribution(pairs, now)


def reopened_filling(store: Store, adapter: CRMAdapter, part: Sequence[str], room: int,
                     now: datetime) -> set[str]:
    """`adapter.reopened(part)`; the same call also reads (and stores) the attribution of up
    to `room` answers whose ticket hook waits unattributed. Errors propagate as the reopen
    check's own."""
    reader = getattr(adapter, "reopened_with_attribution", None)
    ticket_of = store.unattributed_hook_tickets(adapter.name, room) \
        if callable(reader) and room > 0 else {}
    if not ticket_of:
        return adapter.reopened(part)
    gone, found = reader(part, sorted(set(ticket_of.values())))  # type: ignore[misc]
    nobody = Attribution()  # deleted: stored as nobody, as attribute_answers does
    store.record_attribution({s: ((a := found.get(t, nobody)).owner_id, a.team_id)
                              for s, t in ticket_of.items()}, now)
    return set(gone)
