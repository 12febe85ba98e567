"""The Zendesk sandbox server: auth, rate buckets, failure injection, JSON in and out.

The lifecycle, counters and HTTP shell are `integration.sandbox._http`'s, shared with the
HubSpot sandbox: it starts in milliseconds inside tests and serves the real zenpy unchanged.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from .._http import Response, SandboxServer
from .._ratelimit import FailurePlan, SlidingWindow
from . import seed
from .errors import (
    injected,
    invalid_endpoint,
    invalid_value,
    rate_limited,
    unauthorized,
)
from .jobs import JobStore
from .routes import ROUTER
from .routing import Context, Request, Route
from .state import ZendeskState
from .webhooks import Automation

_MINUTE = 60.0
_BUCKET_MESSAGES = {
    "incremental": "Number of allowed incremental export API requests per minute exceeded",
    "export": "Number of allowed search export API requests per minute exceeded",
}


class ZendeskSandbox(SandboxServer):
    """A Zendesk Support API on 127.0.0.1 for the real zenpy.

    Point zenpy at it with ZENPY_FORCE_SCHEME=http and ZENPY_FORCE_NETLOC=`netloc`, then
    `Zenpy(subdomain=subdomain, email=email, token=token, disable_cache=True)`.
    `hide_recent_seconds=60` makes the incremental export hide the last minute's changes as
    Zendesk does (off by default so tests see their own changes at once); `job_polls` is
    how many polls a job answers "working" before "completed". `minute` shortens the
    account's window for quick tests; `spend_outside` plays another integration.
    """

    name: ClassVar[str] = "zendesk"
    content_type: ClassVar[str] = "application/json; charset=utf-8"

    def __init__(self, state: ZendeskState | None = None, *, email: str = seed.DEFAULT_EMAIL,
                 token: str = seed.DEFAULT_TOKEN, subdomain: str = seed.DEFAULT_SUBDOMAIN,
                 port: int = 0, rate_limit_per_minute: int = 700,
                 incremental_per_minute: int = 10, host: str = "127.0.0.1",
                 search_export_per_minute: int = 100, job_polls: int = 1,
                 hide_recent_seconds: int = 0, minute: float = _MINUTE) -> None:
        super().__init__(host, port)
        self.state = state if state is not None else ZendeskState.seeded()
        self.email, self.token, self.subdomain = email, token, subdomain
        self.jobs = JobStore(job_polls)
        self._account = SlidingWindow(rate_limit_per_minute, minute)
        self._buckets = {"incremental": SlidingWindow(incremental_per_minute, _MINUTE),
                         "export": SlidingWindow(search_export_per_minute, _MINUTE)}
        self._failures = FailurePlan()
        self._me = self.state.ensure_agent(email)
        self._hide_recent = hide_recent_seconds
        if self.state.automation is None:  # webhooks and triggers (see webhooks.py)
            self.state.automation = Automation()
            self.state.status_listeners.append(self.state.automation.status_changed)
        self._credentials = {
            "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode(),
            f"Bearer {token}"}

    def _on_bound(self) -> None:
        self.state.base_url = self.url

    @property
    def netloc(self) -> str:
        """"127.0.0.1:<port>", the value for ZENPY_FORCE_NETLOC."""
        return self._netloc()

    # ------------------------------------------------------------ test hooks
    def reset_limits(self) -> None:
        """Empty the rate-limit windows (e.g. between test phases)."""
        self._account.reset()
        for bucket in self._buckets.values():
            bucket.reset()

    def spend_outside(self, n: int) -> dict[str, Any]:
        """Spend `n` of the account's per-minute requests as another integration would."""
        self._account.spend(n)
        return self.limits_snapshot()

    def limits_snapshot(self) -> dict[str, Any]:
        """Each window's limit, what is left and its 429s, avoidable or not (see
        _ratelimit.SlidingWindow): what GET /_sandbox/ratelimit answers."""
        windows = {"account": self._account, **self._buckets}
        return {name: {"limit": w.limit, "remaining": w.remaining(), **w.refusals()}
                for name, w in windows.items()}

    def _ratelimit_endpoint(self, method: str, raw: bytes) -> Response:
        """/_sandbox/ratelimit: POST {"per_minute", "spend"} sets the account's limit and/or
        spends as another integration; DELETE empties the windows."""
        if method == "POST":
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict) or any(
                        not isinstance(body.get(k, 0), int) or body.get(k, 0) < 0
                        for k in ("per_minute", "spend")):
                    raise ValueError("expected whole numbers >= 0 for per_minute and spend")
            except ValueError as exc:
                return Response(400, {"error": "invalid rate-limit settings",
                                      "detail": str(exc)})
            if "per_minute" in body:
                self._account.limit = body["per_minute"]
            self.spend_outside(body.get("spend", 0))
        elif method == "DELETE":
            self.reset_limits()
        elif method != "GET":
            return Response(405, {"error": f"{method} is not supported here"})
        return Response(200, self.limits_snapshot())

    def fail_next(self, n: int, status: int = 500, path_prefix: str = "",
                  retry_after: int | None = None) -> None:
        """Answer the next `n` API calls whose path starts with `path_prefix` with `status`
        (a 5xx or 429 body like Zendesk's; Retry-After when given)."""
        self._failures.add(n, status, path_prefix, retry_after)

    @property
    def automation(self) -> Automation:
        """The account's webhooks and triggers (drop_next, notifier.flush for tests)."""
        found: Automation = self.state.automation
        return found

    def calls_snapshot(self) -> dict[str, int]:
        with self._counter_lock:
            return dict(self.calls)

    # -------------------------------------------------------------- dispatch
    def _serve_request(self, method: str, target: str, headers: dict[str, str],
                       raw: bytes) -> Response:
        return self.dispatch(method, target, headers, raw)

    def _bug_response(self) -> Response:
        return Response(500, {"error": "InternalError",
                              "description": "sandbox bug, see the log"})

    def _fault_response(self, status: int, path: str, retry_after: float) -> Response:
        exc = injected(status, max(1, round(retry_after)) if status == 429 else None)
        return Response(exc.status, exc.body, exc.headers)

    def dispatch(self, method: str, target: str, headers: dict[str, str],
                 raw: bytes) -> Response:
        """One request in, one response out; never raises for a bad request."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == "/_sandbox/calls" and method in ("GET", "DELETE"):
            return self._calls_endpoint(method)
        if path == "/_sandbox/faults":
            return self._faults_endpoint(method, raw)
        if path == "/_sandbox/ratelimit":
            return self._ratelimit_endpoint(method, raw)
        route, params = ROUTER.match(method, path)
        key = route.name if route else f"{method} <unknown>"
        response = self._counted(key, method, path, lambda: self._answer(
            method, path, parts.query, headers, raw, route, params))
        if "X-Rate-Limit" not in response.headers:
            response.headers.update(self._limit_headers(self._account.remaining()))
        return response

    def _answer(self, method: str, path: str, query: str, headers: dict[str, str],
                raw: bytes, route: Route | None, params: dict[str, str]) -> Response:
        failure = self._failures.take(path)
        if failure is not None:
            raise injected(failure.status, failure.retry_after)
        return self._with_faults(path, lambda: self._handle(method, path, query, headers, raw,
                                                            route, params))

    def _handle(self, method: str, path: str, query: str, headers: dict[str, str],
                raw: bytes, route: Route | None, params: dict[str, str]) -> Response:
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
