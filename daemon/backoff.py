"""The one backoff curve the daemon's queues share (write-back, reopen checks, alerts, webhooks):
each names its own first wait and ceiling, and the curve between them is the same everywhere."""

from __future__ import annotations

from datetime import timedelta

_MAX_STEPS = 40  # 2**40 first waits is beyond any ceiling in use; keeps the float exact


def doubling(failures: int, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after `failures` failures in a row (1-based; less counts as 1): `first`,
    doubling with each further failure, never over `cap`."""
    steps = min(max(failures - 1, 0), _MAX_STEPS)
    return timedelta(seconds=min(first.total_seconds() * 2**steps, cap.total_seconds()))
