"""Two daemons sharing one database run the follow-up job at the same instant over 150
unhappy answers: every answer gets exactly one task (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta

from closedloop.daemon.actions.follow_ups import process_follow_ups
from closedloop.daemon.actions.rule import FollowUpRule
from closedloop.daemon.rules.business_hours import BusinessHours
from closedloop.daemon.store import NewSend, Store
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

MakeSend = Callable[..., NewSend]
RULE = FollowUpRule(program="support-csat", categories=frozenset({"unsatisfied"}),
                    scores=None, comment="any", deadline=timedelta(hours=2),
                    calendar=BusinessHours(opens=time(9), closes=time(17)), zone="UTC")


def test_two_replicas_make_one_task_per_answer(store: Store, replica: Store,
                                               make_send: MakeSend, t0: datetime) -> None:
    """150 answers, two stores claiming at once: 150 tasks, none twice, all rows done."""
    state = HubSpotState()
    sends = []
    for i in range(150):
        contact = state.create_contact(f"c{i}@example.com", "C", str(i))
        ticket = state.create_ticket(f"t{i}", contact, closed_at=t0, owner_id="71000001")
        sends.append(make_send(f"k{i}", contact_id=contact, ticket_id=ticket))
    store.add_sends(sends)
    for send in store.claim_due_sends(t0, 200, timedelta(minutes=5)):
        assert store.begin_sending(send.id, t0)
        store.mark_sent(send.id, t0, f"<{send.id}@x>")
        store.record_response(send.id, 1, "unsatisfied", t0)
    with HubSpotSandbox(state, rate_limit_per_10s=0, port=0) as sandbox:
        adapters = [HubSpotAdapter("hubspot", sandbox.token, sandbox.url) for _ in range(2)]
        start = threading.Barrier(2)

        def run(db: Store, adapter: HubSpotAdapter) -> None:
            start.wait()
            while process_follow_ups(db, adapter, {"support-csat": RULE}, t0).created:
                pass

        threads = [threading.Thread(target=run, args=(db, a))
                   for db, a in zip((store, replica), adapters, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    subjects = [t["hs_task_subject"] for t in state.tasks()]
    assert len(subjects) == 150
    assert len(set(subjects)) == 150
    assert store.counts()["follow_ups.done"] == 150
