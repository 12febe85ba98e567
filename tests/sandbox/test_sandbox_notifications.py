"""The sandboxes' outbound notifications, checked apart from the daemon: the HubSpot webhooks
v3 settings and subscriptions API (shapes of ../shared/specs/hubspot/webhooks-v3.json) and
a batch it sends; a Zendesk trigger's webhook call; both signed as the vendors sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from closedloop.integration.sandbox._notify import Notifier
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.hubspot.webhooks import APP_ID, CLIENT_SECRET
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState


class Receiver:
    """A tiny HTTP server that records what it is sent and answers 200."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    yield got
    got.server.shutdown()
    got.server.server_close()


def test_hubspot_webhook_api_and_a_signed_batch(receiver: Receiver) -> None:
    """Settings + a propertyChange subscription through the API; closing a ticket sends a
    v3-signed JSON array carrying the ticket's stage change."""
    state = HubSpotState.seeded(tickets=2, contacts=2)
    with HubSpotSandbox(state) as hs:
        base = f"{hs.url}/webhooks/v3/{APP_ID}"
        settings = httpx.put(f"{base}/settings", json={
            "targetUrl": receiver.url,
            "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"}})
        sub = httpx.post(f"{base}/subscriptions", json={
            "eventType": "ticket.propertyChange", "propertyName": "hs_pipeline_stage",
            "active": True})
        listed = httpx.get(f"{base}/subscriptions").json()["results"]
        assert (settings.status_code, settings.json()["targetUrl"]) == (200, receiver.url)
        assert (sub.status_code, sub.json()["eventType"], listed[0]["propertyName"]) == (
            201, "ticket.propertyChange", "hs_pipeline_stage")
        ticket = state.create_ticket("Broken", None)
        state.close_ticket(ticket)
        assert hs.webhooks.notifier.flush(10)
    events = [e for _, body in receiver.got for e in json.loads(body)]
    assert [(e["objectId"], e["subscriptionType"], e["propertyValue"]) for e in events][-1] == (
        int(ticket), "ticket.propertyChange", state.closed_stage("0"))
    headers, body = receiver.got[-1]
    stamp = headers["x-hubspot-request-timestamp"]
    message = b"POST" + receiver.url.encode() + body + stamp.encode()
    expected = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), message,
                                         hashlib.sha256).digest()).decode()
    assert headers["x-hubspot-signature-v3"] == expected


def test_hubspot_webhook_settings_need_a_url(receiver: Receiver) -> None:
    """A settings body without targetUrl is refused 400, as the spec requires it."""
    with HubSpotSandbox(HubSpotState.seeded(tickets=1, contacts=1)) as hs:
        answer = httpx.put(f"{hs.url}/webhooks/v3/{APP_ID}/settings", json={"throttling": {}})
    assert answer.status_code == 400


def test_zendesk_trigger_calls_its_webhook_signed(receiver: Receiver) -> None:
    """A trigger on "status changed to solved" calls its webhook with the body filled in and
    Zendesk's signature over timestamp + body; an open ticket calls nothing; a dropped
    call is not sent."""
    state = ZendeskState.seeded(tickets=2)
    with ZendeskSandbox(state) as zd:
        auth = {"Authorization": f"Bearer {zd.token}"}
        hook = httpx.post(f"{zd.url}/api/v2/webhooks", headers=auth, json={"webhook": {
            "name": "cl", "endpoint": receiver.url, "http_method": "POST",
            "request_format": "json", "status": "active",
            "subscriptions": ["conditional_ticket_events"]}}).json()["webhook"]
        secret = httpx.get(f"{zd.url}/api/v2/webhooks/{hook['id']}/signing_secret",
                           headers=auth).json()["signing_secret"]["secret"]
        httpx.post(f"{zd.url}/api/v2/triggers.json", headers=auth, json={"trigger": {
            "title": "cl", "conditions": {"all": [
                {"field": "status", "operator": "value", "value": "solved"}]},
            "actions": [{"field": "notification_webhook",
                         "value": [hook["id"], '{"ticket_id": "{{ticket.id}}"}']}]}})
        user = state.create_user("ann@example.com")
        solved = state.create_ticket("Help", user)
        dropped = state.create_ticket("Help too", user)
        state.create_ticket("Still open", user)
        state.solve_ticket(solved)
        assert zd.automation.notifier.flush(10)
        zd.automation.drop_next(1)
        state.solve_ticket(dropped)
        assert zd.automation.notifier.flush(10)
    assert [json.loads(body) for _, body in receiver.got] == [{"ticket_id": solved}]
    headers, body = receiver.got[0]
    stamp = headers["x-zendesk-webhook-signature-timestamp"]
    expected = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert (headers["x-zendesk-webhook-signature"], headers["x-zendesk-webhook-id"]) == (
        expected, hook["id"])


def _batch(events: list[Any]) -> tuple[bytes, dict[str, str]]:
    return json.dumps(events).encode(), {}


def test_held_notifier_sends_nothing_until_flush_then_full_batches(receiver: Receiver) -> None:
    """With `hold`, queued events wait for `flush`, which sends them in batches of `batch`
    (250 events, batch 100: 3 requests) from up to `workers` threads, and returns once all
    were answered; without `hold` the first event leaves at once."""
    held = Notifier(batch=100, workers=4, hold=True)
    for n in range(250):
        held.send(receiver.url, _batch, n)
    threading.Event().wait(0.3)
    assert receiver.got == []
    assert held.flush(10) is True
    assert sorted(len(json.loads(body)) for _, body in receiver.got) == [50, 100, 100]
    assert sorted(e for _, body in receiver.got for e in json.loads(body)) == list(range(250))
    assert [d.status for d in held.sent()] == [200, 200, 200]

    receiver.got.clear()
    eager = Notifier(batch=100)
    eager.send(receiver.url, _batch, "first")
    assert eager.flush(10) is True
    assert [json.loads(body) for _, body in receiver.got] == [["first"]]


def test_notifier_with_workers_delivers_every_event_once(receiver: Receiver) -> None:
    """Four workers, one event per request (Zendesk's way): 40 events, 40 requests, each
    event exactly once, and flush waits for the last answer."""
    notifier = Notifier(batch=1, workers=4)
    for n in range(40):
        notifier.send(receiver.url, _batch, n)
    assert notifier.flush(10) is True
    assert sorted(json.loads(body)[0] for _, body in receiver.got) == list(range(40))
    assert len(notifier.sent()) == 40
