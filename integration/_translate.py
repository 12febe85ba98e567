"""What both adapters' error translation shares: the call wrapper that translates at the
edge, e-mail redaction and the Retry-After header.

Each adapter's `_errors` module keeps its vendor's statuses, bodies and default waits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

from closedloop.integration.errors import ClosedLoopError

T = TypeVar("T")

_EMAIL = re.compile(r"[^\s@\"'<>,;:]+@[^\s@\"'<>,;:]+\.[A-Za-z]{2,}")



class Translator(Protocol):
    """An adapter's `_errors.translate`: the integration error for an SDK failure, or None."""

    def __call__(self, exc: BaseException, *, endpoint: str) -> ClosedLoopError | None: ...


def call_translated(fn: Callable[[], T], translate: Translator, endpoint: str) -> T:
    """Call `fn`; an SDK or transport failure leaves as the integration error `translate`
    maps it to (the original chained), one it does not know (a bug) unchanged."""
    try:
        return fn()
    except ClosedLoopError:
        raise
    except Exception as exc:
        error = translate(exc, endpoint=endpoint)
        if error is None:
            raise
        raise error from exc


def redact(text: str) -> str:
    """Drop e-mail addresses from a CRM message before it reaches logs or the store."""
    return _EMAIL.sub("<email>", text)


def retry_after_header(headers: Mapping[str, str] | None, now: datetime) -> float | None:
    """Seconds `Retry-After` asks for (delay-seconds or an HTTP date, never negative);
    None when it is missing or unreadable, so the caller applies its vendor's default."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())
