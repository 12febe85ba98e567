"""A real webhook receiver on 127.0.0.1 for the tests: verifies every request with the
`standardwebhooks` library and validates its body against the published JSON Schema.

`answer(n)` decides the status of the n-th request (0-based), so a test can make the
receiver fail half the time, vanish (410) or ask for patience (429 + Retry-After).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import jsonschema
from standardwebhooks import Webhook, WebhookVerificationError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, base64


def schema(kind: str) -> dict[str, Any]:
    """The schema shipped in the package for event `kind`."""
    folder = resources.files("closedloop.daemon.actions.webhooks") / "schemas"
    loaded: dict[str, Any] = json.loads((folder / f"{kind}.json").read_text(encoding="utf-8"))
    return loaded


def validate(body: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `body` matches its type's schema."""
    jsonschema.validate(body, schema(body["type"]),
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@dataclass
class Received:
    """What the receiver saw: every verified request, and the ones it refused."""

    accepted: list[dict[str, Any]] = field(default_factory=list)  # bodies answered 2xx
    requests: list[tuple[str, int]] = field(default_factory=list)  # (webhook-id, status)
    bad_signatures: int = 0
    invalid_bodies: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_ids(self) -> list[str]:
        return [body["id"] for body in self.accepted]


@contextmanager
def receiver(answer: Callable[[int], int] = lambda _: 204, secret: str = SECRET,
             retry_after: str | None = None) -> Iterator[tuple[str, Received]]:
    """Serve on 127.0.0.1:<free port>; yields (url, what it received)."""
    seen = Received()
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                parsed = verifier.verify(body, headers)
            except WebhookVerificationError:
                with seen.lock:
                    seen.bad_signatures += 1
                self._reply(401)
                return
            try:
                validate(parsed)
            except jsonschema.ValidationError as exc:
                with seen.lock:
                    seen.invalid_bodies.append(exc.message)
            with seen.lock:
                status = answer(len(seen.requests))
                seen.requests.append((headers["webhook-id"], status))
                seen.headers.append(headers)
                if 200 <= status < 300:
                    seen.accepted.append(parsed)
            self._reply(status)

        def _reply(self, status: int) -> None:
            self.send_response(status)
            if retry_after is not None and status == 429:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", seen
    finally:
        server.shutdown()
        server.server_close()
