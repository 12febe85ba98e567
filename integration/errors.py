"""The error tree, arranged by what the daemon does next with each error.

Adapters translate their SDK's exceptions into these at the edge, so jobs never
see hubspot or zenpy types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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


class PartialWrite(TransientError):
    """One write call ended part way: some records landed, some were refused, and the
    outcome of the rest (`pending`) is unknown, e.g. a Zendesk job still running at the
    timeout, or a 429 that stopped the call after its first jobs were submitted.

    The caller marks `written` done and `rejected` refused now, and retries only `pending`
    (after `retry_after` seconds when the CRM said so): a record that landed is never sent
    again, so a retry cannot add a ticket note twice. Ids are the call's record ids
    (contact or ticket ids); every id the call was given is in exactly one of the three.
    """

    def __init__(self, message: str, *, written: Sequence[str] = (),
                 rejected: Mapping[str, str] | None = None, pending: Sequence[str] = (),
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.written = list(written)
        self.rejected = dict(rejected or {})
        self.pending = list(pending)
        self.retry_after = retry_after
