"""The HTTP server: auth, rate limits, failure injection, call counters, JSON in and out.

Standard library only (ThreadingHTTPServer on a background thread): the sandbox must start
in milliseconds inside tests and push 10,000 tickets through the real client quickly.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Final
from urllib.parse import parse_qs, urlsplit

import structlog

from . import seed
from .errors import AUTH_MESSAGE, SCOPES_MESSAGE, ApiError, injected_body, rate_limited
from .ratelimit import FailurePlan, SlidingWindow
from .routes import ROUTER
from .routing import Context, Request, Response, Route
from .state import HubSpotState

log = structlog.get_logger(__name__)

INTERVAL_MS: Final = 10_000


class HubSpotSandbox:
    """A HubSpot-compatible API on 127.0.0.1 for the real hubspot-api-client.

    Point the client at it with `HubSpot(access_token=token, host=url, base_url=url)`
    (`host` for the generated APIs, `base_url` for `client.api_request`).
    """

    def __init__(self, state: HubSpotState | None = None, token: str = seed.DEFAULT_TOKEN,
                 rate_limit_per_10s: int = 190, search_per_second: int = 5, port: int = 0,
                 *, scopes: tuple[str, ...] | list[str] = seed.DEFAULT_SCOPES,
                 host: str = "127.0.0.1") -> None:
        self.state = state if state is not None else HubSpotState.seeded()
        self.token = token
        self.scopes = tuple(scopes)
        self.calls: Counter[str] = Counter()
        """Every API call per "METHOD /path-template", including refused ones."""
        self.throttled: Counter[str] = Counter()
        """The 429 answers per "METHOD /path-template" (real and injected)."""
        self._ten_second = SlidingWindow(rate_limit_per_10s, INTERVAL_MS / 1000)
        self._search = SlidingWindow(search_per_second, 1.0)
        self._failures = FailurePlan()
        self._counter_lock = threading.Lock()
        self._daily_used = 0
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        handler = type("_BoundHandler", (_Handler,), {"sandbox": self})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="hubspot-sandbox", daemon=True)
        self._thread.start()
        log.info("sandbox.hubspot.started", url=self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HubSpotSandbox:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"http://{self._host}:{self._server.server_port}"

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
        self._ten_second.reset()
        self._search.reset()

    def fail_next(self, n: int, status: int, path_prefix: str | None = None,
                  retry_after: float | None = None) -> None:
        """Answer the next `n` API calls (under `path_prefix`) with `status` and its body."""
        self._failures.add(n, status, path_prefix, retry_after)

    def calls_snapshot(self) -> dict[str, Any]:
        with self._counter_lock:
            return {"total": sum(self.calls.values()), "calls": dict(self.calls),
                    "throttled": dict(self.throttled)}

    # -------------------------------------------------------------- dispatch
    def dispatch(self, method: str, target: str, headers: dict[str, str],
                 raw: bytes, base_url: str) -> Response:
        """One request in, one response out; never raises for a bad request."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == "/_sandbox/calls":
            if method == "DELETE":
                self.reset_calls()
            return Response(200, self.calls_snapshot())
        route, params, known = ROUTER.match(method, path)
        counted = route is None or route.kind != "admin"
        key = route.name if route else f"{method} <unknown>"
        if counted:
            with self._counter_lock:
                self.calls[key] += 1
        incoming = _Incoming(method, path, parts.query, headers, raw, base_url)
        try:
            response = self._answer(incoming, route, params, known=known)
        except ApiError as exc:
            response = Response(exc.status, exc.body, exc.headers)
        except Exception:  # a sandbox bug, not a client error: say so loudly
            log.exception("sandbox.hubspot.handler_error", method=method, path=path)
            response = Response(500, ApiError(500, "internal error", "INTERNAL_ERROR").body)
        if response.status == 429 and counted:
            with self._counter_lock:
                self.throttled[key] += 1
        return response

    def _answer(self, incoming: _Incoming, route: Route | None, params: dict[str, str], *,
                known: bool) -> Response:
        method, path, headers = incoming.method, incoming.path, incoming.headers
        if route is None or route.kind != "admin":
            failure = self._failures.take(path)
            if failure is not None:
                extra = {} if failure.retry_after is None else {
                    "Retry-After": f"{failure.retry_after:g}"}
                return Response(failure.status, injected_body(failure.status, path), extra)
        if route is None:
            if known:
                raise ApiError(405, f"HTTP method {method} is not supported by {path}.")
            raise ApiError(404, f"Unable to route {method} request with path {path}.",
                           "OBJECT_NOT_FOUND")
        limit_headers: dict[str, str] = {}
        if route.kind != "admin":
            self._authorize(route, headers)
            limit_headers = self._take_slot(route)
        body: Any = None
        if incoming.raw.strip():
            try:
                body = json.loads(incoming.raw)
            except ValueError:
                raise ApiError(400, "Invalid input JSON on line 1: the body is not valid "
                               "JSON.", "VALIDATION_ERROR") from None
        request = Request(method, path, parse_qs(incoming.query), body, incoming.base_url,
                          params)
        response = route.handler(Context(self.state, self.token, self.scopes), request)
        response.headers.update(limit_headers)
        return response

    def _authorize(self, route: Route, headers: dict[str, str]) -> None:
        if headers.get("authorization", "") != f"Bearer {self.token}":
            raise ApiError(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")
        missing = [s for s in route.scopes if s not in self.scopes]
        if missing:
            raise ApiError(403, SCOPES_MESSAGE, "MISSING_SCOPES",
                           errors=[{"message": "One or more of the following scopes are "
                                    "required.", "context": {"requiredGranularScopes": missing}}],
                           links={"scopes": "https://developers.hubspot.com/scopes"})

    def _take_slot(self, route: Route) -> dict[str, str]:
        """Apply the route's rate policy; 429 when exhausted, else the headers to send."""
        if route.kind == "search":
            if self._search.acquire() is None:
                raise rate_limited("SECONDLY", {})
            return {}
        window = self._ten_second
        remaining = window.acquire()
        if remaining is None:
            raise rate_limited("TEN_SECONDLY_ROLLING", {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
                "X-HubSpot-RateLimit-Max": str(window.limit),
                "X-HubSpot-RateLimit-Remaining": "0"})
        headers: dict[str, str] = {}
        if route.kind == "crm":
            with self._counter_lock:
                self._daily_used += 1
                used = self._daily_used
            headers["X-HubSpot-RateLimit-Daily"] = str(seed.DAILY_LIMIT)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(seed.DAILY_LIMIT - used, 0))
        if window.limit > 0:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(INTERVAL_MS)
            headers["X-HubSpot-RateLimit-Max"] = str(window.limit)
            headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
        return headers


@dataclass(frozen=True)
class _Incoming:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw: bytes
    base_url: str


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP shell around `HubSpotSandbox.dispatch`."""

    sandbox: ClassVar[HubSpotSandbox]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "hubspot-sandbox"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.sandbox.dispatch(self.command, self.path, headers, raw,
                                         self.sandbox.url)
        payload = b"" if response.status == 204 else json.dumps(
            response.body, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(response.status)
        if response.status != 204:  # a 204 carries no body, not even "null"
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr line (the counters say what happened)."""
