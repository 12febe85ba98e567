"""The HubSpot sandbox server: auth and scopes, rate limits, failure injection, JSON in and out.

The lifecycle, counters and HTTP shell are `integration.sandbox._http`'s (standard library
only, so the sandbox starts in milliseconds inside tests and pushes 10,000 tickets through
the real client quickly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import parse_qs, urlsplit

import structlog

from .._http import Response, SandboxServer
from .._ratelimit import FailurePlan, SlidingWindow
from . import seed
from .errors import AUTH_MESSAGE, SCOPES_MESSAGE, ApiError, injected_body, rate_limited
from .routes import ROUTER
from .routing import Context, Request, Route
from .state import HubSpotState
from .webhooks import HubSpotWebhooks
from .workflows import HubSpotWorkflows

log = structlog.get_logger(__name__)

INTERVAL_MS: Final = 10_000


class HubSpotSandbox(SandboxServer):
    """A HubSpot-compatible API on 127.0.0.1 for the real hubspot-api-client.

    Point the client at it with `HubSpot(access_token=token, host=url, base_url=url)`
    (`host` for the generated APIs, `base_url` for `client.api_request`).
    """

    name: ClassVar[str] = "hubspot"
    content_type: ClassVar[str] = "application/json;charset=utf-8"

    def __init__(self, state: HubSpotState | None = None, token: str = seed.DEFAULT_TOKEN,
                 rate_limit_per_10s: int = 190, search_per_second: int = 5, port: int = 0,
                 *, scopes: tuple[str, ...] | list[str] = seed.DEFAULT_SCOPES,
                 host: str = "127.0.0.1", daily_limit: int = seed.DAILY_LIMIT,
                 interval_ms: int = INTERVAL_MS) -> None:
        """`rate_limit_per_10s`, `search_per_second`, `daily_limit`: the account's limits
        (0: none); `interval_ms` shortens the rolling window for quick tests (the headers
        say so, as HubSpot's do); `spend_outside` plays another integration."""
        super().__init__(host, port)
        self.state = state if state is not None else HubSpotState.seeded()
        self.token = token
        self.scopes = tuple(scopes)
        self._interval_ms = interval_ms
        self._ten_second = SlidingWindow(rate_limit_per_10s, interval_ms / 1000)
        self._search = SlidingWindow(search_per_second, 1.0, tells=False)
        self._failures = FailurePlan()
        self._daily_used = 0
        self.webhooks = HubSpotWebhooks(self.state)
        """The developer app's webhook subscriptions (a test hook: see webhooks.py)."""
        self.workflows = HubSpotWorkflows(self.state)
        """Workflows with a "Send a webhook" action (a test hook: see workflows.py)."""
        self.daily_limit = daily_limit
        self._daily_refusals = {"avoidable": 0, "unavoidable": 0}
        self._daily_told = False

    # ------------------------------------------------------------ test hooks
    def reset_limits(self) -> None:
        """Empty the rate-limit windows (e.g. between test phases)."""
        self._ten_second.reset()
        self._search.reset()
        with self._counter_lock:
            self._daily_used, self._daily_told = 0, False
            self._daily_refusals = {"avoidable": 0, "unavoidable": 0}

    def spend_outside(self, ten_second: int = 0, daily: int = 0) -> dict[str, Any]:
        """Spend the account's quota as another integration would (the 10-second window
        and/or the day); answers the limits' state."""
        self._ten_second.spend(ten_second)
        with self._counter_lock:
            self._daily_used += max(0, daily)
        return self.limits_snapshot()

    def limits_snapshot(self) -> dict[str, Any]:
        """Each window's limit, what is left and its 429s, avoidable or not (see
        _ratelimit.SlidingWindow): what GET /_sandbox/ratelimit answers."""
        with self._counter_lock:
            daily = {"limit": self.daily_limit,
                     "remaining": max(self.daily_limit - self._daily_used, 0),
                     **self._daily_refusals}
        return {"ten_second": {"limit": self._ten_second.limit,
                               "remaining": self._ten_second.remaining(),
                               **self._ten_second.refusals()},
                "search": {"limit": self._search.limit, "remaining": self._search.remaining(),
                           **self._search.refusals()},
                "daily": daily}

    def _ratelimit_endpoint(self, method: str, raw: bytes) -> Response:
        """/_sandbox/ratelimit: POST {"per_10s", "daily", "spend", "spend_daily"} sets the
        limits and/or spends as another integration; DELETE empties the windows."""
        if method == "POST":
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict) or any(
                        not isinstance(body.get(k, 0), int) or body.get(k, 0) < 0
                        for k in ("per_10s", "daily", "spend", "spend_daily")):
                    raise ValueError("expected whole numbers >= 0 for per_10s, daily, spend "
                                     "and spend_daily")
            except ValueError as exc:
                return Response(400, {"error": "invalid rate-limit settings",
                                      "detail": str(exc)})
            if "per_10s" in body:
                self._ten_second.limit = body["per_10s"]
            if "daily" in body:
                self.daily_limit = body["daily"]
            self.spend_outside(body.get("spend", 0), body.get("spend_daily", 0))
        elif method == "DELETE":
            self.reset_limits()
        elif method != "GET":
            return Response(405, {"error": f"{method} is not supported here"})
        return Response(200, self.limits_snapshot())

    def fail_next(self, n: int, status: int, path_prefix: str | None = None,
                  retry_after: float | None = None) -> None:
        """Answer the next `n` API calls (under `path_prefix`) with `status` and its body."""
        self._failures.add(n, status, path_prefix, retry_after)

    def calls_snapshot(self) -> dict[str, Any]:
        return self._counters()

    # -------------------------------------------------------------- dispatch
    def _serve_request(self, method: str, target: str, headers: dict[str, str],
                       raw: bytes) -> Response:
        return self.dispatch(method, target, headers, raw, self.url)

    def _bug_response(self) -> Response:
        return Response(500, ApiError(500, "internal error", "INTERNAL_ERROR").body)

    def _fault_response(self, status: int, path: str, retry_after: float) -> Response:
        extra = {"Retry-After": f"{retry_after:g}"} if status == 429 else {}
        return Response(status, injected_body(status, path), extra)

    def dispatch(self, method: str, target: str, headers: dict[str, str],
                 raw: bytes, base_url: str) -> Response:
        """One request in, one response out; never raises for a bad request."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == "/_sandbox/calls":
            return self._calls_endpoint(method)
        if path == "/_sandbox/faults":
            return self._faults_endpoint(method, raw)
        if path == "/_sandbox/ratelimit":
            return self._ratelimit_endpoint(method, raw)
        route, params, known = ROUTER.match(method, path)
        counted = route is None or route.kind != "admin"
        key = route.name if route else f"{method} <unknown>"
        incoming = _Incoming(method, path, parts.query, headers, raw, base_url)
        return self._counted(key if counted else None, method, path,
                             lambda: self._answer(incoming, route, params, known=known))

    def _answer(self, incoming: _Incoming, route: Route | None, params: dict[str, str], *,
                known: bool) -> Response:
        path = incoming.path
        if route is None or route.kind != "admin":
            failure = self._failures.take(path)
            if failure is not None:
                extra = {} if failure.retry_after is None else {
                    "Retry-After": f"{failure.retry_after:g}"}
                return Response(failure.status, injected_body(failure.status, path), extra)
            return self._with_faults(path, lambda: self._handle(incoming, route, params,
                                                                known=known))
        return self._handle(incoming, route, params, known=known)

    def _handle(self, incoming: _Incoming, route: Route | None, params: dict[str, str], *,
                known: bool) -> Response:
        method, path, headers = incoming.method, incoming.path, incoming.headers
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
            if not self._search.acquire().allowed:
                raise rate_limited("SECONDLY", {})
            return {}
        window = self._ten_second
        slot = window.acquire()
        if not slot.allowed:
            raise rate_limited("TEN_SECONDLY_ROLLING", {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self._interval_ms),
                "X-HubSpot-RateLimit-Max": str(window.limit),
                "X-HubSpot-RateLimit-Remaining": "0"})
        headers: dict[str, str] = {}
        if route.kind == "crm":
            headers.update(self._take_daily())
        if window.limit > 0:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self._interval_ms)
            headers["X-HubSpot-RateLimit-Max"] = str(window.limit)
            headers["X-HubSpot-RateLimit-Remaining"] = str(slot.remaining)
        return headers


    def _take_daily(self) -> dict[str, str]:
        """Count one call against the day; 429 DAILY once it is spent (the 10-second slot
        it took stays taken)."""
        with self._counter_lock:
            limit = self.daily_limit
            if limit > 0 and self._daily_used >= limit:
                kind = "avoidable" if self._daily_told else "unavoidable"
                self._daily_refusals[kind] += 1
                self._daily_told = True
                refused = True
            else:
                refused = False
                self._daily_used += 1
                left = max(limit - self._daily_used, 0)
                if limit > 0 and left == 0:
                    self._daily_told = True
        if refused:
            raise rate_limited("DAILY", {"X-HubSpot-RateLimit-Daily": str(limit),
                                         "X-HubSpot-RateLimit-Daily-Remaining": "0"})
        if limit <= 0:
            return {}
        return {"X-HubSpot-RateLimit-Daily": str(limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(left)}


@dataclass(frozen=True)
class _Incoming:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw: bytes
    base_url: str
