"""Translate hubspot-api-client and urllib3 failures into integration.errors at the edge.

Each of the SDK's ~60 generated modules has its own ApiException class, so HTTP errors
are recognised by duck typing (`status`, `body`, `headers`) rather than by class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3

from closedloop.integration._translate import redact, retry_after_header
from closedloop.integration.errors import (
    AuthError,
    ClosedLoopError,
    RateLimited,
    RecordRejected,
    TransientError,
)

# 423 Locked and 477 Migration in progress are HubSpot's "try again shortly" answers.
_RETRYABLE_4XX = frozenset({423, 477})

# policyName of a 429 body -> seconds to wait when no Retry-After is given.
_POLICY_WAIT = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
_UNKNOWN_POLICY_WAIT = 10.0  # an unnamed 429 is most likely the rolling 10-second window


def body_json(body: Any) -> dict[str, Any]:
    """The error body as a dict; {} when it is empty or not JSON."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def hubspot_message(body: Any) -> str:
    """HubSpot's own explanation from an error body (category + message), redacted."""
    data = body_json(body)
    message = str(data.get("message") or "").strip()
    category = str(data.get("category") or "").strip()
    text = f"{category}: {message}" if category and message else message or category
    return redact(text)[:500]


def rate_limit_wait(body: Any, headers: Mapping[str, str] | None, now: datetime) -> float:
    """Seconds to wait after a 429, from HubSpot's policyName (Retry-After is undocumented).

    DAILY resets at midnight in the account's time zone, which the adapter does not know:
    wait until the next UTC midnight plus an hour, which a retry policy will never sleep
    through, so the job pauses the source instead.
    """
    policy = str(body_json(body).get("policyName") or "").upper()
    if policy == "DAILY":
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight - now).total_seconds() + 3600.0
    header = retry_after_header(headers, now)
    if header is not None:
        return header
    interval = (headers or {}).get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if policy == "TEN_SECONDLY_ROLLING" and interval and interval.isdigit() and int(interval):
        return int(interval) / 1000  # the rolling window the answer names
    return _POLICY_WAIT.get(policy, _UNKNOWN_POLICY_WAIT)


def translate(exc: BaseException, *, endpoint: str) -> ClosedLoopError | None:
    """The integration error for an SDK/transport failure; None for anything else (a bug)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "body"):
        return http_error(status, getattr(exc, "body", None), getattr(exc, "headers", None),
                          endpoint=endpoint)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return TransientError(f"HubSpot {endpoint}: {type(exc).__name__}")
    return None


def http_error(status: int, body: Any, headers: Mapping[str, str] | None, *,
               endpoint: str) -> ClosedLoopError:
    """Map one non-2xx answer to the error tree (shared by SDK and raw calls)."""
    where = f"HubSpot {endpoint} answered {status}"
    message = hubspot_message(body)
    detail = f"{where}: {message}" if message else where
    if status in (401, 403):
        return AuthError(detail)
    if status == 429:
        return RateLimited(detail, retry_after=rate_limit_wait(body, headers, datetime.now(UTC)))
    if status >= 500 or status in _RETRYABLE_4XX:
        return TransientError(detail)
    return RecordRejected(detail, status)


def batch_errors(errors: Any, ids: Sequence[str]) -> dict[str, str]:
    """Map a 207's errors to our ids (via context ids or our write trace id), redacted."""
    rejected: dict[str, str] = {}
    known = set(ids)
    for error in errors or []:
        context: dict[str, Any] = getattr(error, "context", None) or {}
        named = [str(i) for key in ("ids", "objectWriteTraceId", "id")
                 for i in (context.get(key) or [])]
        reason = redact(f"{getattr(error, 'category', '') or 'ERROR'}: "
                        f"{getattr(error, 'message', '') or ''}".strip())[:500]
        for rid in named:
            if rid in known:
                rejected[rid] = reason
    return rejected


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed write may have been applied: True unless HubSpot answered that it
    was not (a 429 or another 4xx); a 5xx, a timeout or a cut connection leave it open."""
    status = getattr(exc, "status", None)
    return not (isinstance(status, int) and 400 <= status < 500)
