"""Webhook delivery against a real HTTP receiver on 127.0.0.1 that checks every signature
with the `standardwebhooks` library and every body against its JSON Schema.

Time is moved with time-machine (both the job's clock and the receiver's signature check
read it), so the backoff edges are tested on both sides without waiting.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import structlog
import time_machine
from webhook_receiver import SECRET, receiver

from closedloop.daemon.actions.webhooks import (
    MAX_ATTEMPTS,
    Endpoint,
    WebhookDeliverer,
    backoff,
)
from closedloop.daemon.store import Store

SentSurvey = Callable[..., int]
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ALL = frozenset({"survey.sent", "response.created", "response.updated", "comment.added",
                 "contact.unsubscribed", "follow_up.created"})


def _now() -> datetime:
    return datetime.now(UTC)


def _deliverer(store: Store, url: str, timeout: float = 5.0,
               kinds: frozenset[str] = ALL) -> WebhookDeliverer:
    return WebhookDeliverer(store, [Endpoint("crm-sync", url, SECRET, kinds, None, timeout)],
                            _now)


def _statuses(store: Store) -> list[tuple[str, int]]:
    return [(row["status"], row["attempts"]) for row in store.delivery_rows()]


def test_every_post_is_signed_and_matches_its_schema(
        store: Store, sent_survey: SentSurvey) -> None:
    """A survey, its answer and comment reach the receiver as three verified posts whose
    webhook-id is the body's event id, each body valid against its schema."""
    with time_machine.travel(T0, tick=False), receiver() as (url, seen):
        send_id = sent_survey("a", at=T0)
        store.record_response(send_id, 3, "unsatisfied", T0)
        store.record_comment(send_id, "slow", T0)
        result = _deliverer(store, url).run()
    assert (result.routed, result.delivered) == (3, 3)
    assert (seen.bad_signatures, seen.invalid_bodies) == (0, [])
    assert [b["type"] for b in seen.accepted] == ["survey.sent", "response.created",
                                                  "comment.added"]
    assert [h["webhook-id"] for h in seen.headers] == ["evt_1", "evt_2", "evt_3"]
    assert seen.accepted_ids() == ["evt_1", "evt_2", "evt_3"]
    assert seen.headers[0]["webhook-timestamp"] == str(int(T0.timestamp()))


def test_a_wrong_secret_is_caught_by_the_receiver(store: Store, sent_survey: SentSurvey
                                                  ) -> None:
    """The receiver's check is real: a post signed with another secret fails it; its 401
    is a refusal, retried (a rotated secret can be fixed) until the 4xx budget runs out."""
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    with time_machine.travel(T0, tick=False), receiver(secret=other) as (url, seen):
        sent_survey("a", at=T0)
        _deliverer(store, url).run()
    assert (seen.bad_signatures, _statuses(store)) == (1, [("pending", 1)])


def test_a_receiver_failing_half_the_time_still_gets_every_event_once_after_dedupe(
        store: Store, sent_survey: SentSurvey) -> None:
    """40 events, a receiver that answers 500 to a random half of the posts (after reading
    them): retries end with every event accepted, exactly once per webhook-id."""
    coin = random.Random(8)
    moment = T0
    with time_machine.travel(T0, tick=False) as traveller, \
            receiver(lambda _: coin.choice((200, 500))) as (url, seen):
        for n in range(20):
            send_id = sent_survey(f"p{n}", at=T0)
            store.record_response(send_id, n % 6, "unsatisfied", T0)
        deliverer = _deliverer(store, url)
        for _ in range(200):
            deliverer.run()
            if all(row["status"] == "delivered" for row in store.delivery_rows()):
                break
            moment += timedelta(hours=1)
            traveller.move_to(moment)
    ids = seen.accepted_ids()
    assert (len(ids), len(set(ids))) == (40, 40)
    assert {row["status"] for row in store.delivery_rows()} == {"delivered"}
    failures = sum(1 for _, status in seen.requests if status == 500)
    assert failures > 10  # the receiver really failed about half the time


def test_backoff_and_dead_letter_on_both_sides_of_each_edge(
        store: Store, sent_survey: SentSurvey) -> None:
    """A receiver answering 503: each retry comes no earlier than its backoff (a second
    before it nothing is posted), the last try is the MAX_ATTEMPTS-th (pending right before
    it, dead right after), and `replay --dead` sends it again with the same webhook-id."""
    answers = {"status": 503}
    with time_machine.travel(T0, tick=False) as traveller, \
            receiver(lambda _: answers["status"]) as (url, seen):
        sent_survey("a", at=T0)
        deliverer = _deliverer(store, url)
        deliverer.run()
        moment = T0
        for attempt in range(1, MAX_ATTEMPTS):
            due = moment + backoff(attempt)
            traveller.move_to(due - timedelta(seconds=1))
            deliverer.run()
            assert (len(seen.requests), _statuses(store)) == (attempt, [("pending", attempt)])
            traveller.move_to(due)
            deliverer.run()
            moment = due
        assert _statuses(store) == [("dead", MAX_ATTEMPTS)]
        assert moment - T0 >= timedelta(hours=24)
        assert store.counts()["webhooks.crm-sync.dead"] == 1
        traveller.move_to(moment + timedelta(days=2))
        deliverer.run()
        assert len(seen.requests) == MAX_ATTEMPTS  # dead stays dead
        answers["status"] = 200
        assert store.replay_deliveries(_now(), dead_only=True) == 1
        deliverer.run()
    assert _statuses(store) == [("delivered", 1)]
    assert seen.accepted_ids() == ["evt_1"]


@pytest.mark.parametrize(("status", "tries_to_dead"), [(410, 1), (400, 3), (404, 3)])
def test_gone_and_refusing_endpoints_are_dead_sooner(
        store: Store, sent_survey: SentSurvey, status: int, tries_to_dead: int) -> None:
    """410 Gone: dead at the first answer. Another 4xx (not 408/429): dead after 3 tries,
    still pending after 2."""
    with time_machine.travel(T0, tick=False) as traveller, \
            receiver(lambda _: status) as (url, _seen):
        sent_survey("a", at=T0)
        deliverer = _deliverer(store, url)
        for n in range(1, tries_to_dead + 1):
            traveller.move_to(T0 + timedelta(days=n))
            deliverer.run()
            expected = "dead" if n == tries_to_dead else "pending"
            assert _statuses(store) == [(expected, n)]


def test_429_retry_after_is_honoured(store: Store, sent_survey: SentSurvey) -> None:
    """A 429 with Retry-After: 3600 waits the hour, not the 30 s backoff."""
    with time_machine.travel(T0, tick=False), \
            receiver(lambda _: 429, retry_after="3600") as (url, _seen):
        sent_survey("a", at=T0)
        _deliverer(store, url).run()
    [row] = store.delivery_rows()
    assert (row["status"], row["last_status"]) == ("pending", 429)
    assert row["next_attempt_at"].replace(tzinfo=UTC) == T0 + timedelta(hours=1)


def test_a_receiver_that_never_answers_times_out_and_is_retried(
        store: Store, sent_survey: SentSurvey) -> None:
    """A post that gets no answer within the endpoint's timeout is a retry, not a hang."""
    release = threading.Event()

    def stall(_: int) -> int:
        release.wait(5)
        return 200

    with receiver(stall) as (url, _seen):
        sent_survey("a", at=_now())
        result = _deliverer(store, url, timeout=0.3).run()
        release.set()
    [row] = store.delivery_rows()
    assert (result.retried, row["status"], row["last_error"]) == (1, "pending", "timeout")


def test_two_replicas_delivering_together_post_each_event_once(
        store: Store, replica: Store, sent_survey: SentSurvey) -> None:
    """Two daemons on one database run the job at the same time, many times over: every
    webhook-id reaches the receiver exactly once (claims with leases, no double post)."""
    with receiver() as (url, seen):
        for n in range(30):
            sent_survey(f"r{n}", at=_now())
        first, second = _deliverer(store, url), _deliverer(replica, url)
        start = threading.Barrier(2)

        def work(deliverer: WebhookDeliverer) -> None:
            start.wait()
            for _ in range(10):
                deliverer.run(limit=5)

        threads = [threading.Thread(target=work, args=(d,)) for d in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = [webhook_id for webhook_id, _ in seen.requests]
    assert (len(ids), len(set(ids))) == (30, 30)


def test_logs_name_endpoint_and_event_never_address_url_or_comment(
        store: Store, sent_survey: SentSurvey) -> None:
    """Delivered, retried and dead tries log the endpoint and the event id; no e-mail
    address, no URL (it may carry a token) and no comment reaches the log."""
    answers = itertools.chain((500, 200, 410), itertools.repeat(200))
    with time_machine.travel(T0, tick=False) as traveller, \
            receiver(lambda _: next(answers)) as (url, _seen), \
            structlog.testing.capture_logs() as logs:
        send_id = sent_survey("ada", at=T0)
        store.record_response(send_id, 1, "unsatisfied", T0)
        store.record_comment(send_id, "Call me at ada@example.com", T0)
        deliverer = _deliverer(store, url)
        for n in range(4):
            traveller.move_to(T0 + timedelta(hours=n))
            deliverer.run()
    events = {entry["event"] for entry in logs}
    assert {"webhook.retry", "webhook.endpoint_gone", "webhooks.run"} <= events
    text = repr(logs)
    assert ("@example.com" in text, url in text, "Call me" in text) == (False, False, False)
    gone = next(entry for entry in logs if entry["event"] == "webhook.endpoint_gone")
    assert (gone["endpoint"], gone["http_status"]) == ("crm-sync", 410)
