"""Zendesk's error bodies, built in one place so every refusal looks like the real API's.

zenpy picks its exception from the body's "error" key: RecordNotFound ->
RecordNotFoundException, TooManyValues -> TooManyValuesException, a 422 "invalid" ->
SearchResponseLimitExceeded, anything else -> APIException. So the keys matter.
"""

from __future__ import annotations

from typing import Any, Final

from .._http import HttpError

AUTH_ERROR: Final = "Couldn't authenticate you"
SEARCH_LIMIT_DESCRIPTION: Final = (
    "Invalid search: Requested response size was greater than Search Response Limits")


class ApiError(HttpError):
    """Raised by handlers; the server turns it into the JSON error response."""

    def __init__(self, status: int, error: str, description: str | None = None,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(description or error)
        self.status = status
        self.body: dict[str, Any] = {"error": error}
        if description is not None:
            self.body["description"] = description
        if details is not None:
            self.body["details"] = details
        self.headers = headers or {}


def not_found(description: str = "Not found") -> ApiError:
    return ApiError(404, "RecordNotFound", description)


def invalid_endpoint() -> ApiError:
    """An unknown path: not a missing record, so zenpy raises APIException, not NotFound."""
    return ApiError(404, "InvalidEndpoint", "Not found")


def unauthorized() -> ApiError:
    return ApiError(401, AUTH_ERROR)


def invalid_value(description: str, details: Any = None) -> ApiError:
    """A bad parameter or body (400)."""
    return ApiError(400, "InvalidValue", description, details if details is not None else {})


def record_invalid(field: str, description: str, error: str = "InvalidValue") -> ApiError:
    """A validation failure on one attribute (422), in Zendesk's details shape."""
    return ApiError(422, "RecordInvalid", "Record validation errors",
                    {field: [{"description": description, "error": error}]})


def too_many_values(limit: int, name: str = "ids") -> ApiError:
    return ApiError(400, "TooManyValues", f"Too many values in {name}; at most {limit} allowed")


def search_limit() -> ApiError:
    """Paging past 1,000 search results: the 422 zenpy turns into a quiet stop."""
    return ApiError(422, "invalid", SEARCH_LIMIT_DESCRIPTION)


def closed_ticket() -> ApiError:
    """What Zendesk answers to any change of a closed ticket (closed is final)."""
    return record_invalid("status", "Status: closed prevents ticket update", "ClosedTicket")


def rate_limited(retry_after: int, description: str) -> ApiError:
    return ApiError(429, "APIRateLimitExceeded", description,
                    headers={"Retry-After": str(retry_after)})


def injected(status: int, retry_after: float | None) -> ApiError:
    """The failure `fail_next` plans: 429 or a 5xx with Zendesk's bodies."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    if status == 429:
        exc = ApiError(429, "APIRateLimitExceeded",
                       "Number of allowed API requests per minute exceeded")
    elif status == 503:
        exc = ApiError(503, "ServiceUnavailable",
                       "Service temporarily unavailable, please try again later")
    elif status >= 500:
        exc = ApiError(status, "InternalError", "Something went wrong on our side")
    else:
        exc = ApiError(status, "InjectedError", f"injected {status}")
    exc.headers = headers
    return exc
