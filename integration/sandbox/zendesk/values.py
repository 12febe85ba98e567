"""Time formats, ids, tags and opaque cursors, the way Zendesk writes them."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

_TAG_SPLIT: Final = re.compile(r"[\s,]+")


def iso(dt: datetime) -> str:
    """Aware (or UTC-naive) datetime -> Zendesk's timestamp ("2026-11-20T10:15:00Z")."""
    return f"{utc(dt):%Y-%m-%dT%H:%M:%S}Z"


def utc(dt: datetime) -> datetime:
    """A naive datetime is taken as UTC; an aware one is converted."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def now() -> datetime:
    """The sandbox's clock (time-machine freezes it in tests)."""
    return datetime.now(UTC)


def parse_id(text: str) -> int | None:
    """A positive integer id from a path segment or list item; None when it is not one."""
    text = text.strip()
    if not text.isdigit() or len(text) > 18:
        return None
    value = int(text)
    return value if value > 0 else None


def normalize_tags(tags: Iterable[Any]) -> list[str]:
    """Zendesk's tag rules: lower case, whitespace splits a tag, duplicates dropped."""
    out: list[str] = []
    for tag in tags:
        for part in _TAG_SPLIT.split(str(tag).strip().lower()):
            if part and part not in out:
                out.append(part)
    return out


def encode_cursor(payload: dict[str, Any]) -> str:
    """An opaque, URL-safe cursor (clients must not read it, and the sandbox checks it)."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any] | None:
    """The payload of a cursor made by `encode_cursor`; None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    return value if isinstance(value, dict) else None
