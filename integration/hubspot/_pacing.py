"""HubSpot's rate windows for the pacer, and the pool wrapper every SDK call goes through.

- `ten_second`: the app's rolling 10-second limit (100 Free/Starter, 190 Professional and
  Enterprise, 250 with the API limit increase), corrected by `X-HubSpot-RateLimit-Max`,
  `-Remaining` and `-Interval-Milliseconds`; per app, so `burst_share` (default all of it).
- `search`: CRM search's own 5 requests a second per account, which answers no headers.
- the day: `X-HubSpot-RateLimit-Daily` / `-Daily-Remaining`, shared by every app of the
  account, so `quota_share` of it (search and OAuth calls do not count in it).
A 429 names its policy in the body (TEN_SECONDLY_ROLLING, SECONDLY, DAILY); it carries no
documented Retry-After, but one that comes is honoured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from closedloop.integration.pacing import Answer, DayBudget, Observation, Pacer, Window

SEARCH_PER_SECOND: Final = 5
DEFAULT_PER_10S: Final = 190
DEFAULT_DAILY: Final = 625_000


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_answer(kind: str, status: int, headers: Mapping[str, str], body: bytes) -> Answer:
    """What one HubSpot answer says about the windows."""
    windows: dict[str, Observation] = {}
    day: Observation | None = None
    interval_ms = _int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    remaining = _int(headers, "X-HubSpot-RateLimit-Remaining")
    limit = _int(headers, "X-HubSpot-RateLimit-Max")
    if remaining is not None or limit is not None:
        windows["ten_second"] = Observation(
            remaining=remaining, limit=limit,
            interval=interval_ms / 1000 if interval_ms else None)
    daily_left = _int(headers, "X-HubSpot-RateLimit-Daily-Remaining")
    daily = _int(headers, "X-HubSpot-RateLimit-Daily")
    if daily_left is not None or daily is not None:
        day = Observation(remaining=daily_left, limit=daily)
    if status == 429:
        policy = _policy(body)
        retry = _retry_after(headers)
        if policy == "DAILY":
            day = Observation(remaining=0, limit=day.limit if day else None)
        else:
            name = "search" if policy == "SECONDLY" or kind == "search" else "ten_second"
            seen = windows.get(name, Observation())
            windows[name] = Observation(remaining=0, limit=seen.limit, interval=seen.interval,
                                        retry_after=retry)
    return Answer(windows, day)


def _policy(body: bytes) -> str:
    try:
        data: Any = json.loads(body or b"{}")
    except ValueError:
        return ""
    return str(data.get("policyName") or "").upper() if isinstance(data, dict) else ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        value = headers.get("Retry-After")
        return float(value) if value else None
    except ValueError:
        return None


def kind_of(url: str) -> str:
    """search (its own window), oauth (no daily count) or crm."""
    path = urlsplit(url).path
    if path.endswith("/search"):
        return "search"
    return "oauth" if path.startswith("/oauth") else "crm"


def hubspot_pacer(source: str, *, per_10s: int = DEFAULT_PER_10S,
                  daily: int = DEFAULT_DAILY, burst_share: float = 1.0,
                  quota_share: float = 0.9, max_wait: float = 60.0) -> Pacer:
    """The pacer of one HubSpot source, seeded from the plan's limits."""
    return Pacer(
        source,
        [Window("ten_second", per_10s, 10.0, burst_share),
         Window("search", SEARCH_PER_SECOND, 1.0, quota_share)],
        {"crm": ("ten_second",), "oauth": ("ten_second",), "search": ("search",)},
        read_answer, day=DayBudget(daily, quota_share), day_kinds=("crm",),
        max_wait=max_wait)


class PacedPool:
    """A urllib3 pool manager whose every request asks the pacer first and reports back."""

    def __init__(self, inner: Any, pacer: Pacer) -> None:
        self._inner = inner
        self._pacer = pacer

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        ticket = self._pacer.acquire(kind_of(url))
        status: int | None = None
        headers: Mapping[str, str] = {}
        body = b""
        try:
            response = self._inner.request(method, url, *args, **kwargs)
            status, headers = response.status, response.headers
            if status == 429:
                body = response.data or b""
            return response
        finally:
            self._pacer.done(ticket, status, headers, body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
