"""The one retry policy every adapter call goes through.

Adapters translate SDK errors into integration.errors types first; this module only
decides, from those types, whether to try again and how long to wait. The SDKs' own
retry layers are switched off (or limited to the transport) so waits never stack.

- `RateLimited`: wait the hint the CRM gave (`retry_after`); a hint longer than the
  remaining delay budget (HubSpot's DAILY limit) is raised at once, so the job can
  pause the source instead of blocking a scheduler thread for hours.
- other `TransientError` (5xx, timeouts, dropped connections): exponential backoff
  with jitter, so replicas that failed together do not retry together.
- everything else (`AuthError`, `RecordRejected`, ...) is raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from tenacity import RetryCallState, Retrying

from closedloop.integration.errors import RateLimited, TransientError

T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one CRM call: attempts, total sleep budget and the backoff curve.

    `sleep` is injectable so tests can record the waits instead of sleeping them.
    """

    max_attempts: int = 5
    max_delay: float = 60.0  # seconds slept in total across all retries of one call
    base: float = 0.5  # first backoff step, doubled on every attempt
    cap: float = 30.0  # no single backoff wait is longer than this
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (1-based): equal jitter over base * 2**n."""
        ceiling = min(self.cap, self.base * float(2 ** max(0, attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy, op: str,
                    only_rate_limits: bool = False) -> T:
    """Call `fn` until it succeeds, raises a non-transient error, or the policy is spent.

    `op` names the operation in the `crm.retry` log events (e.g. "hubspot.contacts_update").
    The last error is re-raised unchanged, so callers see RateLimited/TransientError.
    `only_rate_limits`: retry 429s only, for a create a 5xx or a timeout may have applied;
    the caller looks for what landed before it tries again.
    """
    kinds: type[Exception] = RateLimited if only_rate_limits else TransientError

    def retryable(state: RetryCallState) -> bool:
        return state.outcome is not None and isinstance(state.outcome.exception(), kinds)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            return max(0.0, exc.retry_after)
        return policy.backoff(state.attempt_number)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        return state.idle_for + state.upcoming_sleep > policy.max_delay

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "crm.retry",
            op=op,
            attempt=state.attempt_number,
            wait=round(state.upcoming_sleep, 3),
            error=type(exc).__name__,
            detail=str(exc)[:200],
        )

    retrying = Retrying(
        retry=retryable,
        wait=wait,
        stop=stop,
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except TransientError as exc:
        log.warning(
            "crm.retry.gave_up",
            op=op,
            attempts=retrying.statistics.get("attempt_number"),
            error=type(exc).__name__,
        )
        raise
