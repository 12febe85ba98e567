"""The demo's local receiver counts a webhook as verified only when its Standard Webhooks
signature checks out, counts each event id once, and takes only Slack-shaped JSON on /slack:
so the demo's "every webhook verified" figure means something."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from closedloop.daemon.demo_receiver import DemoReceiver, demo_secret


@pytest.fixture
def demo_receiver() -> Iterator[tuple[DemoReceiver, str]]:
    secret = demo_secret()
    server = DemoReceiver(secret)
    server.start()
    yield server, secret
    server.stop()


def _post(url: str, secret: str, event_id: str = "evt_1") -> int:
    body = json.dumps({"id": event_id, "type": "response.created", "timestamp": "x",
                       "data": {}}).encode()
    now = datetime.now(UTC)
    headers = {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(event_id, now, body.decode()),
               "content-type": "application/json"}
    return httpx.post(url, content=body, headers=headers, timeout=5).status_code


def test_signed_webhooks_verify_once_per_event_and_foreign_ones_are_refused(
        demo_receiver: tuple[DemoReceiver, str]) -> None:
    """Signed with the demo's secret: 204 and counted (a retry of the same id is verified
    but not counted as a second event); signed with another secret: 401, rejected."""
    server, secret = demo_receiver
    url = f"{server.url}/webhooks"
    assert [_post(url, secret), _post(url, secret), _post(url, demo_secret())] == [204, 204, 401]
    got = server.got
    assert (got.webhooks_verified, got.webhooks_rejected, got.webhook_events) == (
        2, 1, {"response.created": 1})


def test_slack_takes_blocks_or_text_only(demo_receiver: tuple[DemoReceiver, str]) -> None:
    """Slack's shape (blocks or text) is 200 and counted; anything else is 400."""
    server, _ = demo_receiver
    url = f"{server.url}/slack"
    statuses = [httpx.post(url, json=body, timeout=5).status_code
                for body in ({"blocks": [{"type": "divider"}]}, {"text": "hi"}, {"card": 1})]
    assert statuses == [200, 200, 400]
    assert (server.got.slack_messages, server.got.slack_rejected) == (2, 1)
