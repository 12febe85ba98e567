"""The events outbox: which change writes which event, in the change's own transaction, and
what routing, forgetting and the event ids promise. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from webhook_receiver import validate

from closedloop.daemon.actions.webhooks import webhook_body
from closedloop.daemon.store import Delivery, Route, Store, emit_event, event_id
from closedloop.daemon.store import answers as answers_module
from closedloop.daemon.store.webhooks import prunable_events

SentSurvey = Callable[..., int]
MINUTE = timedelta(minutes=1)
EVERYTHING = frozenset({"survey.sent", "response.created", "response.updated",
                        "comment.added", "contact.unsubscribed", "follow_up.created"})


def _kinds(store: Store) -> list[str]:
    return [row["kind"] for row in store.event_rows()]


def _body(row: dict[str, Any]) -> dict[str, Any]:
    delivery = Delivery(id=0, event_id=row["id"], endpoint="x", attempts=0, kind=row["kind"],
                        created_at=row["created_at"], payload=row["payload"], token="")
    parsed: dict[str, Any] = json.loads(webhook_body(delivery))
    return parsed


def test_each_change_writes_its_event_and_every_payload_matches_its_schema(
        store: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """sent → survey.sent; first click → response.created; the same score again → nothing;
    another score → response.updated; comment → comment.added (the same comment again →
    nothing); unsubscribe → contact.unsubscribed; each body validates against its schema."""
    send_id = sent_survey("a")
    store.record_response(send_id, 2, "unsatisfied", t0 + MINUTE)
    store.record_response(send_id, 2, "unsatisfied", t0 + 2 * MINUTE)
    store.record_response(send_id, 4, "satisfied", t0 + 3 * MINUTE)
    store.record_comment(send_id, "slow refund", t0 + 4 * MINUTE)
    store.record_comment(send_id, "slow refund", t0 + 5 * MINUTE)
    store.record_preference(send_id, "unsubscribe", None, t0 + 6 * MINUTE)
    store.record_preference(send_id, "unsubscribe", None, t0 + 7 * MINUTE)
    emit_event(store, "follow_up.created",
               {"send_id": send_id, "program": "support-csat",
                "follow_up": {"crm": "hubspot", "task_id": "9"}}, t0 + 8 * MINUTE)
    assert _kinds(store) == ["survey.sent", "response.created", "response.updated", "comment.added",
            "contact.unsubscribed", "follow_up.created"]
    rows = store.event_rows()
    for row in rows:
        validate(_body(row))
    comment = rows[3]["payload"]
    assert {"send_id": send_id, "program": "support-csat", "survey_type": "csat",
            "source": "hubspot", "contact": {"id": "c-a", "email": "a@example.com"},
            "ticket_id": "t-a", "response_id": 1, "score": 4, "category": "satisfied",
            "comment": "slow refund", "answered_at": "2026-11-20T09:01:00+00:00",
            "updated_at": "2026-11-20T09:04:00+00:00"} == comment
    assert [row["email_norm"] for row in rows] == ["a@example.com"] * 6


def test_a_change_and_its_event_commit_together(
        store: Store, sent_survey: SentSurvey, t0: datetime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the answer is written but before its event is (here: the event insert
    fails) rolls the answer back too: no event is lost, and none exists without its change."""
    send_id = sent_survey("a")

    def crash(*_: object, **__: object) -> int:
        raise RuntimeError("killed between the change and its event")

    monkeypatch.setattr(answers_module, "emit_event", crash)
    with pytest.raises(RuntimeError):
        store.record_response(send_id, 1, "unsatisfied", t0 + MINUTE)
    assert (store.get_response(send_id), _kinds(store)) == (None, ["survey.sent"])
    monkeypatch.undo()
    store.record_response(send_id, 1, "unsatisfied", t0 + MINUTE)
    assert _kinds(store) == ["survey.sent", "response.created"]


@pytest.mark.parametrize("change", ["mark_sent", "unsubscribe", "comment"])
def test_no_change_commits_without_its_event(
        store: Store, sent_survey: SentSurvey, t0: datetime,
        monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """The same for a survey marked sent (its write-back, ledger and event), an unsubscribe
    (its suppression) and a comment: a failure at the event leaves the change undone."""
    from closedloop.daemon.store import NewSend
    from closedloop.daemon.store import preferences as preferences_module
    from closedloop.daemon.store import settle as settle_module

    send_id = sent_survey("a")
    store.record_response(send_id, 1, "unsatisfied", t0 + MINUTE)
    store.add_sends([NewSend("b", "support-csat", "csat", "hubspot", "c-b", t0, t0,
                             email="b@example.com")])
    [other] = store.claim_due_sends(t0, 1, timedelta(minutes=5))
    assert store.begin_sending(other.id, t0)
    before = (_kinds(store), store.counts())

    def crash(*_: object, **__: object) -> int:
        raise RuntimeError("killed between the change and its event")

    # mark_sent builds its events as rows, inserted with the group's other statements
    module, name = {"mark_sent": (settle_module, "event_row"),
                    "unsubscribe": (preferences_module, "emit_event"),
                    "comment": (answers_module, "emit_event")}[change]
    monkeypatch.setattr(module, name, crash)
    act = {"mark_sent": lambda: store.mark_sent(other.id, t0 + MINUTE, "<b@x>"),
           "unsubscribe": lambda: store.record_preference(send_id, "unsubscribe", None,
                                                          t0 + MINUTE),
           "comment": lambda: store.record_comment(send_id, "slow", t0 + MINUTE)}[change]
    with pytest.raises(RuntimeError):
        act()
    assert (_kinds(store), store.counts()) == before
    sent, response = store.get_send(other.id), store.get_response(send_id)
    assert (sent and sent.status, response and response.comment,
            store.is_suppressed("a@example.com", t0 + MINUTE)) == ("sending", None, False)


def test_event_ids_are_never_reused(store: Store, t0: datetime) -> None:
    """The last event deleted, the next one still gets a new id (receivers dedupe on it)."""
    first = emit_event(store, "follow_up.created", {"program": "p"}, t0)
    second = emit_event(store, "follow_up.created", {"program": "p"}, t0)
    with store.engine.begin() as conn:
        from closedloop.daemon.store.events import EVENTS
        conn.execute(EVENTS.delete().where(EVENTS.c.id == second))
    third = emit_event(store, "follow_up.created", {"program": "p"}, t0)
    assert (first, second, third, event_id(third)) == (1, 2, 3, "evt_3")


def test_unknown_kind_is_refused(store: Store, t0: datetime) -> None:
    """A typo in an event kind is a ValueError naming the known kinds, not a silent row."""
    with pytest.raises(ValueError, match=r"unknown event kind 'response\.create'"):
        emit_event(store, "response.create", {}, t0)


def test_routing_follows_each_endpoints_events_and_programs_once(
        store: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """An endpoint gets the kinds it subscribed to, of its programs only; routing twice
    queues nothing twice."""
    nps = sent_survey("n", program="nps", survey_type="nps")
    sent_survey("c")
    store.record_response(nps, 3, "detractor", t0 + MINUTE)
    routes = [Route("all", EVERYTHING), Route("answers", frozenset({"response.created"})),
              Route("nps-only", EVERYTHING, frozenset({"nps"}))]
    assert store.route_events(routes, t0 + MINUTE) == 3
    assert store.route_events(routes, t0 + MINUTE) == 0
    got = sorted((row["endpoint"], row["kind"], row["event_id"])
                 for row in store.delivery_rows())
    assert got == [("all", "response.created", 3), ("all", "survey.sent", 1),
            ("all", "survey.sent", 2), ("answers", "response.created", 3),
            ("nps-only", "response.created", 3), ("nps-only", "survey.sent", 1)]


def test_claims_are_exclusive_until_the_lease_ends(
        store: Store, replica: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """A second replica claims nothing while the first holds the rows; after the lease it
    does, and the first one's late settle is refused (it lost the row)."""
    sent_survey("a")
    store.route_events([Route("all", EVERYTHING)], t0)
    [mine] = store.claim_deliveries(t0, 10, timedelta(minutes=2))
    assert replica.claim_deliveries(t0 + timedelta(seconds=119), 10,
                                          timedelta(minutes=2)) == []
    [theirs] = replica.claim_deliveries(t0 + timedelta(minutes=2), 10, timedelta(minutes=2))
    assert mine.id == theirs.id
    assert not store.settle_delivery(mine, t0, status="delivered", http_status=200)
    assert replica.settle_delivery(theirs, t0, status="delivered", http_status=200)
    counts = {k: v for k, v in store.counts().items() if k.startswith("webhooks.")}
    assert counts == {"webhooks.all.pending": 0, "webhooks.all.delivered": 1,
                      "webhooks.all.dead": 0}


def test_forget_drops_undelivered_webhooks_and_blanks_payloads(
        store: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """After `forget`, nothing quoting the person is posted: pending and dead deliveries of
    their events are gone, payloads blanked (also of events not yet routed); delivered rows
    stay counted; another person's deliveries are untouched; replay skips forgotten events."""
    ada = sent_survey("ada")
    bob = sent_survey("bob")
    route = [Route("all", EVERYTHING)]
    store.route_events(route, t0)
    first, _ = store.claim_deliveries(t0, 10, timedelta(minutes=2))
    store.settle_delivery(first, t0, status="delivered", http_status=200)
    store.record_response(ada, 1, "unsatisfied", t0 + MINUTE)  # evt_3, queued below
    store.record_response(bob, 1, "unsatisfied", t0 + MINUTE)  # evt_4
    store.route_events(route, t0 + MINUTE)
    store.record_comment(ada, "call me", t0 + MINUTE)  # evt_5, not routed yet
    result = store.forget("ADA@example.com", t0 + 2 * MINUTE)
    store.route_events(route, t0 + 2 * MINUTE)
    rows = {(row["event_id"], row["status"]) for row in store.delivery_rows()}
    assert (result.webhook_deliveries, rows) == (
        1, {(1, "delivered"), (2, "pending"), (4, "pending")})
    payloads = [row["payload"] for row in store.event_rows()]
    emails = [p and p["contact"]["email"] for p in payloads]
    assert emails == [None, "bob@example.com", None, "bob@example.com", None]
    assert store.replay_deliveries(t0, event_id=1) == 0


def test_settled_events_are_pruned_after_retention_pending_ones_never(
        store: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """Events created before the cut whose deliveries are all settled go (with their
    deliveries); one created at the cut stays; one with a pending delivery stays."""
    sent_survey("a")
    sent_survey("b")
    sent_survey("c", at=t0 + MINUTE)
    store.route_events([Route("all", EVERYTHING)], t0 + MINUTE)
    first, second, third = store.claim_deliveries(t0 + MINUTE, 10, timedelta(minutes=2))
    store.settle_delivery(first, t0, status="delivered", http_status=200)
    store.settle_delivery(third, t0, status="dead", http_status=410)
    store.release_deliveries(second.token)
    assert store.prune_events(t0 + MINUTE) == 1
    assert [row["id"] for row in store.event_rows()] == [2, 3]
    assert [row["event_id"] for row in store.delivery_rows()] == [2, 3]


def test_a_follow_up_created_in_the_crm_is_one_event_matching_its_schema(
        store: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """Recording a follow-up's CRM id writes `follow_up.created` once, in that transaction;
    a later settle of the same follow-up (a re-score's update) writes none."""
    send_id = sent_survey("a")
    store.record_response(send_id, 1, "unsatisfied", t0 + MINUTE)
    claim = store.claim_follow_ups("hubspot", t0 + 2 * MINUTE, 10, timedelta(minutes=5))
    [row] = claim.rows
    assert store.settle_follow_up(claim.token, row.id, row.version, "done", t0 + 2 * MINUTE,
                                  crm_id="task-9")
    store.record_response(send_id, 2, "unsatisfied", t0 + 3 * MINUTE)
    again = store.claim_follow_ups("hubspot", t0 + 4 * MINUTE, 10, timedelta(minutes=5))
    [updated] = again.rows
    assert store.settle_follow_up(again.token, updated.id, updated.version, "done",
                                  t0 + 4 * MINUTE, crm_id="task-9")
    created = [r for r in store.event_rows() if r["kind"] == "follow_up.created"]
    assert len(created) == 1
    validate(_body(created[0]))
    assert (created[0]["payload"]["follow_up"], created[0]["payload"]["response_id"]) == (
        {"id": "task-9", "crm": "hubspot"}, 1)


def test_the_prune_walks_the_created_at_index_not_every_event(
        store: Store, sent_survey: SentSurvey, t0: datetime) -> None:
    """The minute job's prune finds its events through ix_events_created_at (SQLite's plan:
    a SEARCH on that index, no SCAN of events): ordered by id alone it read every event of
    the 30-day retention each minute. Oldest first: of two prunable events created out of id
    order, a limit of 1 takes the older."""
    if store.engine.dialect.name == "sqlite":
        statement = prunable_events(t0, 100).compile(
            store.engine, compile_kwargs={"literal_binds": True})
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")]
        assert [line for line in plan if line.startswith("SCAN events")] == []
        assert [line for line in plan if line.startswith("SEARCH events")] == [
            "SEARCH events USING INDEX ix_events_created_at (created_at<?)"]
    sent_survey("a", at=t0 + 2 * MINUTE)
    sent_survey("b", at=t0 + MINUTE)
    store.route_events([Route("all", EVERYTHING)], t0 + 3 * MINUTE)
    for delivery in store.claim_deliveries(t0 + 3 * MINUTE, 10, timedelta(minutes=2)):
        store.settle_delivery(delivery, t0, status="delivered", http_status=200)
    assert store.prune_events(t0 + 3 * MINUTE, limit=1) == 1
    assert [row["id"] for row in store.event_rows()] == [1]
