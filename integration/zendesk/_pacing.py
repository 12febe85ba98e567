"""Zendesk's rate windows for the pacer.

- `account`: the per-minute limit of the account's plan (200 Team, 400 Growth and
  Professional, 700 Enterprise, 2,500 Enterprise Plus or High Volume), shared by every
  integration of the account, so `quota_share` of it; corrected by `X-Rate-Limit` and
  `X-Rate-Limit-Remaining` on every answer.
- endpoint limits of their own, per minute: the incremental export (10) and the search
  export (100), each also counted in the account's.
A 429 carries `Retry-After` in seconds: the account window when the answer says
`X-Rate-Limit-Remaining: 0`, else the endpoint's own, stays closed until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from closedloop.integration.pacing import Answer, Observation, Pacer, Window

DEFAULT_PER_MINUTE: Final = 200
ENDPOINT_LIMITS: Final = {"incremental_tickets": 10, "search_export": 100}


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def read_answer(kind: str, status: int, headers: Mapping[str, str], body: bytes) -> Answer:
    """What one Zendesk answer says about the windows."""
    limit = _number(headers, "X-Rate-Limit")
    remaining = _number(headers, "X-Rate-Limit-Remaining")
    windows: dict[str, Observation] = {}
    if limit is not None or remaining is not None:
        windows["account"] = Observation(
            remaining=None if remaining is None else int(remaining),
            limit=None if limit is None else int(limit))
    if status == 429:
        wait = _number(headers, "Retry-After") or 60.0
        if kind in ENDPOINT_LIMITS and remaining != 0:
            windows[kind] = Observation(remaining=0, retry_after=wait)
        else:
            seen = windows.get("account", Observation())
            windows["account"] = Observation(remaining=0, limit=seen.limit, retry_after=wait)
    return Answer(windows)


def zendesk_pacer(source: str, *, per_minute: int = DEFAULT_PER_MINUTE,
                  quota_share: float = 0.9, max_wait: float = 60.0) -> Pacer:
    """The pacer of one Zendesk source, seeded from the plan's per-minute limit."""
    windows = [Window("account", per_minute, 60.0, quota_share)]
    windows += [Window(name, limit, 60.0, quota_share)
                for name, limit in ENDPOINT_LIMITS.items()]
    kinds = {name: ("account", name) for name in ENDPOINT_LIMITS}
    return Pacer(source, windows, kinds, read_answer, default_windows=("account",),
                 max_wait=max_wait)
