"""The HTTP server: auth, rate limits, failure injection, call counters, JSON in and out.

Standard library only (ThreadingHTTPServer on a background thread), like the HubSpot
sandbox: it starts in milliseconds inside tests and serves the real zenpy unchanged.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import structlog

from . import seed
from .errors import (
    ApiError,
    injected,
    invalid_endpoint,
    invalid_value,
    rate_limited,
    unauthorized,
)
from .jobs import JobStore
from .ratelimit import FailurePlan, MinuteWindow
from .routes import ROUTER
from .routing import Context, Request, Response, Route
from .state import ZendeskState

log = structlog.get_logger(__name__)

_BUCKET_MESSAGES = {
    "incremental": "Number of allowed incremental export API requests per minute exceeded",
    "export": "Number of allowed search export API requests per minute exceeded",
}


class ZendeskSandbox:
    """A Zendesk Support API on 127.0.0.1 for the real zenpy.

    Point zenpy at it with ZENPY_FORCE_SCHEME=http and ZENPY_FORCE_NETLOC=`netloc`, then
    `Zenpy(subdomain=subdomain, email=email, token=token, disable_cache=True)`.
    `hide_recent_seconds=60` makes the incremental export hide the last minute's changes as
    Zendesk does (off by default so tests see their own changes at once); `job_polls` is
    how many polls a job answers "working" before "completed".
    """

    def __init__(self, state: ZendeskState | None = None, *, email: str = seed.DEFAULT_EMAIL,
                 token: str = seed.DEFAULT_TOKEN, subdomain: str = seed.DEFAULT_SUBDOMAIN,
                 port: int = 0, rate_limit_per_minute: int = 700,
                 incremental_per_minute: int = 10, host: str = "127.0.0.1",
                 search_export_per_minute: int = 100, job_polls: int = 1,
                 hide_recent_seconds: int = 0) -> None:
        self.state = state if state is not None else ZendeskState.seeded()
        self.email, self.token, self.subdomain = email, token, subdomain
        self.calls: Counter[str] = Counter()
        """Every API call per "METHOD /path-template", including refused ones."""
        self.throttled: Counter[str] = Counter()
        """The 429 answers per "METHOD /path-template" (real and injected)."""
        self.jobs = JobStore(job_polls)
        self._account = MinuteWindow(rate_limit_per_minute)
        self._buckets = {"incremental": MinuteWindow(incremental_per_minute),
                         "export": MinuteWindow(search_export_per_minute)}
        self._failures = FailurePlan()
        self._counter_lock = threading.Lock()
        self._me = self.state.ensure_agent(email)
        self._hide_recent = hide_recent_seconds
        self._credentials = {
            "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode(),
            f"Bearer {token}"}
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        handler = type("_BoundHandler", (_Handler,), {"sandbox": self})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self.state.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="zendesk-sandbox", daemon=True)
        self._thread.start()
        log.info("sandbox.zendesk.started", url=self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ZendeskSandbox:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """"http://127.0.0.1:<port>" once started."""
        return f"http://{self.netloc}"

    @property
    def netloc(self) -> str:
        """"127.0.0.1:<port>", the value for ZENPY_FORCE_NETLOC."""
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"{self._host}:{self._server.server_port}"

    # ------------------------------------------------------------ test hooks
    def total_calls(self) -> int:
        with self._counter_lock:
            return sum(self.calls.values())

    def reset_calls(self) -> None:
        with self._counter_lock:
            self.calls.clear()
            self.throttled.clear()

    def reset_limits(self) -> None:
        """Empty the rate-limit windows (e.g. between test phases)."""
        self._account.reset()
        for bucket in self._buckets.values():
            bucket.reset()

    def fail_next(self, n: int, status: int = 500, path_prefix: str = "",
                  retry_after: int | None = None) -> None:
        """Answer the next `n` API calls whose path starts with `path_prefix` with `status`
        (a 5xx or 429 body like Zendesk's; Retry-After when given)."""
        self._failures.add(n, status, path_prefix, retry_after)

    def calls_snapshot(self) -> dict[str, int]:
        with self._counter_lock:
            return dict(self.calls)

    # -------------------------------------------------------------- dispatch
    def dispatch(self, method: str, target: str, headers: dict[str, str],
                 raw: bytes) -> Response:
        """One request in, one response out; never raises for a bad request."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == "/_sandbox/calls" and method in ("GET", "DELETE"):
            if method == "DELETE":
                self.reset_calls()
            with self._counter_lock:
                return Response(200, {"total": sum(self.calls.values()),
                                      "calls": dict(self.calls),
                                      "throttled": dict(self.throttled)})
        route, params = ROUTER.match(method, path)
        key = route.name if route else f"{method} <unknown>"
        with self._counter_lock:
            self.calls[key] += 1
        try:
            response = self._answer(method, path, parts.query, headers, raw, route, params)
        except ApiError as exc:
            response = Response(exc.status, exc.body, exc.headers)
        except Exception:  # a sandbox bug, not a client error: say so loudly
            log.exception("sandbox.zendesk.handler_error", method=method, path=path)
            response = Response(500, {"error": "InternalError",
                                      "description": "sandbox bug, see the log"})
        if "X-Rate-Limit" not in response.headers:
            response.headers.update(self._limit_headers(self._account.remaining()))
        if response.status == 429:
            with self._counter_lock:
                self.throttled[key] += 1
        return response

    def _answer(self, method: str, path: str, query: str, headers: dict[str, str],
                raw: bytes, route: Route | None, params: dict[str, str]) -> Response:
        failure = self._failures.take(path)
        if failure is not None:
            raise injected(failure.status, failure.retry_after)
        if route is None:
            raise invalid_endpoint()
        if headers.get("authorization", "") not in self._credentials:
            raise unauthorized()
        limit_headers = self._take_slot(route)
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise invalid_value("The request body is not valid JSON") from None
        request = Request(method, path, parse_qs(query, keep_blank_values=True), body,
                          self.url, params)
        context = Context(self.state, self.jobs, self._me, self._hide_recent)
        response = route.handler(context, request)
        response.headers.update(limit_headers)
        return response

    def _take_slot(self, route: Route) -> dict[str, str]:
        """Apply the route's bucket, then the account's; 429 + Retry-After when exhausted."""
        bucket = self._buckets.get(route.kind)
        if bucket is not None:
            slot = bucket.acquire()
            if not slot.allowed:
                raise rate_limited(slot.retry_after, _BUCKET_MESSAGES[route.kind])
        slot = self._account.acquire()
        if not slot.allowed:
            exc = rate_limited(slot.retry_after,
                               "Number of allowed API requests per minute exceeded")
            exc.headers.update(self._limit_headers(0))
            raise exc
        return self._limit_headers(slot.remaining)

    def _limit_headers(self, remaining: int) -> dict[str, str]:
        if self._account.limit <= 0:
            return {}
        return {"X-Rate-Limit": str(self._account.limit),
                "X-Rate-Limit-Remaining": str(remaining)}


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP shell around `ZendeskSandbox.dispatch`."""

    sandbox: ClassVar[ZendeskSandbox]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "zendesk-sandbox"

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.sandbox.dispatch(self.command, self.path, headers, raw)
        payload = json.dumps(response.body, ensure_ascii=False,
                             separators=(",", ":")).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr line (the counters say what happened)."""
