"""Translate zenpy and requests failures into integration.errors at the edge.

zenpy raises `APIException` (and its subclasses) carrying the `requests.Response` when
the error body is JSON, a bare `requests.HTTPError` when it is not, and lets transport
errors (`ConnectionError`, `Timeout`) through untouched. All are mapped by HTTP status here,
so jobs never see a zenpy type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from zenpy.lib.exception import APIException, RatelimitBudgetExceeded, ZenpyException

from closedloop.integration._translate import redact, retry_after_header
from closedloop.integration.errors import (
    AuthError,
    ClosedLoopError,
    RateLimited,
    RecordRejected,
    TransientError,
)

DEFAULT_RETRY_AFTER = 60.0  # Zendesk's limits are per minute: a 429 without a hint waits one
_MAX_MESSAGE = 300


def retry_after(headers: Mapping[str, str] | None, now: datetime | None = None) -> float:
    """Seconds to wait after a 429: `Retry-After` in seconds or as an HTTP date."""
    wait = retry_after_header(headers, now or datetime.now(UTC))
    return DEFAULT_RETRY_AFTER if wait is None else wait


def zendesk_message(response: requests.Response | None) -> str:
    """Zendesk's own explanation from an error body ("error: description"), redacted."""
    if response is None:
        return ""
    try:
        data: Any = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):  # {"error": {"title", "message"}} on some endpoints
        error = error.get("title") or error.get("message")
    description = data.get("description") or data.get("message") or ""
    details = data.get("details")
    parts = [str(p) for p in (error, description) if p]
    if details:
        parts.append(json.dumps(details, sort_keys=True, separators=(",", ":")))
    return redact(": ".join(parts))[:_MAX_MESSAGE]


def http_error(response: requests.Response, *, endpoint: str) -> ClosedLoopError:
    """Map one non-2xx answer to the error tree."""
    status = response.status_code
    where = f"Zendesk {endpoint} answered {status}"
    message = zendesk_message(response)
    detail = f"{where}: {message}" if message else where
    if status == 401:
        return AuthError(f"{detail} (check the e-mail address and API token)")
    if status == 403:
        return AuthError(f"{detail} (the token's user lacks the role this needs)")
    if status == 429:
        return RateLimited(detail, retry_after=retry_after(response.headers))
    if status >= 500 or status == 409:  # 409: Zendesk's "edit conflict, try again"
        return TransientError(detail)
    return RecordRejected(detail, status)


def translate(exc: BaseException, *, endpoint: str) -> ClosedLoopError | None:
    """The integration error for a zenpy/requests failure; None for anything else (a bug)."""
    if isinstance(exc, ClosedLoopError):
        return exc
    response = getattr(exc, "response", None)
    if isinstance(exc, APIException | requests.HTTPError) and response is not None:
        return http_error(response, endpoint=endpoint)
    if isinstance(exc, RatelimitBudgetExceeded):
        # Only reachable if zenpy saw a 429 itself (the session normally answers it first).
        return RateLimited(f"Zendesk {endpoint}: rate limited", retry_after=DEFAULT_RETRY_AFTER)
    if isinstance(exc, requests.RequestException):  # timeouts, refused/dropped connections
        return TransientError(f"Zendesk {endpoint}: {type(exc).__name__}")
    if isinstance(exc, ZenpyException):
        # "Could not handle response": a 2xx zenpy cannot parse (a proxy's HTML page, ...).
        return TransientError(f"Zendesk {endpoint}: unexpected answer ({type(exc).__name__})")
    return None
