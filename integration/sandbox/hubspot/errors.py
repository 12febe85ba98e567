"""HubSpot's error bodies, built in one place so every refusal looks like the real API's."""

from __future__ import annotations

import uuid
from typing import Any, Final

from .._http import HttpError

AUTH_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
SCOPES_MESSAGE: Final = (
    "This app hasn't been granted all required scopes to make this call. Read more about "
    "required scopes here: https://developers.hubspot.com/scopes.")
CATEGORY_BY_STATUS: Final = {
    400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND", 405: "VALIDATION_ERROR", 409: "CONFLICT", 423: "LOCKED",
    429: "RATE_LIMITS",
}


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    """{"status":"error","message","correlationId","category", ...extra} as HubSpot sends."""
    body: dict[str, Any] = {"status": "error", "message": message,
                            "correlationId": str(uuid.uuid4()), "category": category}
    body.update(extra)
    return body


def rate_limit_body(policy: str) -> dict[str, Any]:
    """The 429 body; `policy` is TEN_SECONDLY_ROLLING, SECONDLY or DAILY."""
    message = {"SECONDLY": "You have reached your secondly limit.",
               "DAILY": "You have reached your daily limit."}.get(
        policy, "You have reached your ten_secondly_rolling limit.")
    return {"status": "error", "message": message, "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()), "policyName": policy}


def batch_error(category: str, message: str, context: dict[str, list[str]],
                sub_category: str | None = None) -> dict[str, Any]:
    """One entry of a 207 response's "errors" list (the StandardError shape)."""
    err: dict[str, Any] = {"status": "error", "category": category, "message": message,
                           "context": context, "errors": [], "links": {}}
    if sub_category:
        err["subCategory"] = sub_category
    return err


class ApiError(HttpError):
    """Raised by handlers; the server turns it into a JSON error response."""

    def __init__(self, status: int, message: str, category: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, category or CATEGORY_BY_STATUS.get(status, "ERROR"),
                               **extra)
        self.headers: dict[str, str] = {}


def rate_limited(policy: str, headers: dict[str, str]) -> ApiError:
    """The 429 for an exhausted policy, with the headers HubSpot sends alongside."""
    exc = ApiError(429, "rate limited")
    exc.body = rate_limit_body(policy)
    exc.headers = headers
    return exc


def injected_body(status: int, path: str) -> dict[str, Any]:
    """Body of a failure injected with `fail_next` (what HubSpot sends for that status)."""
    if status == 429:
        return rate_limit_body("SECONDLY" if path.endswith("/search") else "TEN_SECONDLY_ROLLING")
    if status >= 500:
        return error_body("internal error", "INTERNAL_ERROR" if status == 500 else
                          "SERVICE_UNAVAILABLE")
    return error_body(f"injected {status}", CATEGORY_BY_STATUS.get(status, "ERROR"))
