"""IANA time-zone names in the config, checked when it loads (one message everywhere)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator


def check_time_zone(value: object) -> object:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as Europe/Oslo, got {value!r}"
                             ) from None
    return value


TimeZone = Annotated[str, BeforeValidator(check_time_zone)]
