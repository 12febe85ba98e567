"""What each answer of an endpoint means for a delivery, and when the next try comes.

- 2xx: delivered.
- 410 Gone: the endpoint says it is gone for good: dead at once (and logged).
- 408, 429, 5xx, a timeout or a refused connection: try again after the backoff; the
  Retry-After of a 429 or 503 (seconds or HTTP date) is honoured when it asks for longer,
  up to a day.
- any other 4xx (400, 401, 403, 404, 413, ...): a configuration problem on the receiving side
  that retries rarely cure: dead after CLIENT_ERROR_ATTEMPTS tries instead of MAX_ATTEMPTS.

Backoff: BACKOFF_BASE doubled after each try, at most BACKOFF_CAP: 30 s, 1 min, 2 min, ...
8.5 h, then 12 h; the 13th and last try comes about 29 h after the first, so a receiver down
for a whole day still gets everything. No jitter: deliveries are spread by their own times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from closedloop.daemon.backoff import doubling

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=12)
MAX_ATTEMPTS = 13
CLIENT_ERROR_ATTEMPTS = 3
RETRY_AFTER_CAP = timedelta(days=1)
_RETRYABLE_4XX = (408, 429)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try (1-based)."""
    return doubling(attempts, BACKOFF_BASE, BACKOFF_CAP)


@dataclass(frozen=True)
class Verdict:
    """What to record after one try: delivered, dead, or pending again at `retry_at`."""

    status: str
    retry_at: datetime | None = None
    reason: str = ""


def judge(http_status: int | None, attempts: int, now: datetime,
          retry_after: str | None = None) -> Verdict:
    """The verdict on a try that was the `attempts`-th (1-based); `http_status` None means
    no answer (timeout, connection refused or reset)."""
    if http_status is not None and 200 <= http_status < 300:
        return Verdict("delivered")
    if http_status == 410:
        return Verdict("dead", reason="endpoint_gone")
    if http_status is not None and 400 <= http_status < 500 \
            and http_status not in _RETRYABLE_4XX:
        if attempts >= CLIENT_ERROR_ATTEMPTS:
            return Verdict("dead", reason="refused")
        return Verdict("pending", now + backoff(attempts), "refused")
    if attempts >= MAX_ATTEMPTS:
        return Verdict("dead", reason="retries_exhausted")
    wait = backoff(attempts)
    if http_status in (429, 503) and retry_after:
        wait = max(wait, min(parse_retry_after(retry_after, now), RETRY_AFTER_CAP))
    return Verdict("pending", now + wait, "unavailable" if http_status else "no_answer")


def parse_retry_after(value: str, now: datetime) -> timedelta:
    """Retry-After in seconds or as an HTTP date; zero when unreadable or in the past."""
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return timedelta(0)
    if when.tzinfo is None:
        return timedelta(0)
    return max(when - now, timedelta(0))
