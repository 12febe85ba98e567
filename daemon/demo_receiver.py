"""The demo's stand-in for the team's other tools: one local HTTP server on 127.0.0.1.

`/slack` takes what a Slack incoming webhook takes (JSON with `blocks` or `text`) and counts
it; `/webhooks` checks every outbound webhook with the `standardwebhooks` library, as a
receiving tool would, and counts what verified, by event type, and what did not.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


def demo_secret() -> str:
    """A fresh Standard Webhooks secret for one demo run: whsec_ + base64 of 24 bytes."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass
class Received:
    """What the receiver got; read it after the demo's jobs went quiet."""

    slack_messages: int = 0
    slack_rejected: int = 0  # not Slack's shape: no blocks and no text
    webhooks_verified: int = 0
    webhooks_rejected: int = 0  # bad signature or timestamp
    webhook_events: dict[str, int] = field(default_factory=dict)
    webhook_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class DemoReceiver:
    """Serve /slack and /webhooks on 127.0.0.1:<free port> until `stop()`."""

    def __init__(self, secret: str) -> None:
        self.got = Received()
        got, verifier = self.got, Webhook(secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path == "/slack":
                    self._reply(_slack(got, body))
                elif self.path == "/webhooks":
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    self._reply(_webhook(got, verifier, body, headers))
                else:
                    self._reply(404)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # the demo prints its own table

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _slack(got: Received, body: bytes) -> int:
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    ok = isinstance(message, dict) and bool(message.get("blocks") or message.get("text"))
    with got.lock:
        if ok:
            got.slack_messages += 1
        else:
            got.slack_rejected += 1
    return 200 if ok else 400


def _webhook(got: Received, verifier: Webhook, body: bytes, headers: dict[str, str]) -> int:
    try:
        event = verifier.verify(body, headers)
    except WebhookVerificationError:
        with got.lock:
            got.webhooks_rejected += 1
        return 401
    with got.lock:
        if headers["webhook-id"] not in got.webhook_ids:  # a retry of one we have: once
            got.webhook_ids.add(headers["webhook-id"])
            got.webhook_events[event["type"]] = got.webhook_events.get(event["type"], 0) + 1
        got.webhooks_verified += 1
    return 204
