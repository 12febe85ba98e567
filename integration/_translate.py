"""What both adapters' error translation shares: e-mail redaction and the Retry-After header.

Each adapter's `_errors` module keeps its vendor's statuses, bodies and default waits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

_EMAIL = re.compile(r"[^\s@\"'<>,;:]+@[^\s@\"'<>,;:]+\.[A-Za-z]{2,}")


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
