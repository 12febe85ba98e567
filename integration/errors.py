"""The error tree, arranged by what the daemon does next with each error.

Adapters translate their SDK's exceptions into these at the edge, so jobs never
see hubspot or zenpy types.
"""

from __future__ import annotations


class ClosedLoopError(Exception):
    """Base of every error ClosedLoop raises on purpose."""


class ConfigError(ClosedLoopError):
    """The configuration or a mapping is wrong: report each problem, exit 2."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class AuthError(ClosedLoopError):
    """The CRM refused the credentials or a scope: pause that source, report it in health."""


class TransientError(ClosedLoopError):
    """A 5xx, a timeout or a dropped connection: retry with backoff."""


class RateLimited(TransientError):
    """The CRM said 429: wait `retry_after` seconds before the next call."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecordRejected(ClosedLoopError):
    """The CRM refused one record (4xx): skip it, keep it visible, keep going."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
