"""A Twilio-compatible SMS gateway on 127.0.0.1 for the real `twilio` client (see server.py)."""

from __future__ import annotations

import threading

from .._serve import serve_until_stopped
from .server import DEFAULT_SID, DEFAULT_TOKEN, TwilioSandbox, sign

__all__ = ["TwilioSandbox", "serve", "sign"]


def serve(port: int, *, stop: threading.Event | None = None) -> None:
    """Run the gateway in the foreground until Ctrl-C (`closedloop sandbox twilio`)."""
    sandbox = TwilioSandbox(port=port)
    serve_until_stopped(sandbox, lambda: [
        f"Twilio sandbox listening on {sandbox.url}",
        f"[sms] base_url = \"{sandbox.url}\"  account_sid = \"{DEFAULT_SID}\"",
        f"auth token (CLOSEDLOOP_TWILIO_AUTH_TOKEN): {DEFAULT_TOKEN}",
        "test hooks: GET /_sandbox/messages, POST /_sandbox/inbound {from, body, url}, "
        "POST /_sandbox/deliver {sid, status}"], stop)
