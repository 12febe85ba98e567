"""The config's value types: durations with units, URLs, names and codes, each refusing a bad
value with a message that says what was expected and what was given."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_BARE_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
SUPPORTED_CRMS = ("hubspot", "zendesk")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Keys a program may override per language in [programs.texts.<lang>].
TEXT_KEYS = ("subject", "intro", "question", "follow_up", "thanks", "reminder_subject",
             "reminder_intro")


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '1h', '2d' → timedelta. A bare number is refused: `delay = 5` could mean
    5 seconds or 5 minutes, and guessing wrong mails people at the wrong time."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float | str) and not isinstance(value, bool) \
            and _BARE_NUMBER.match(str(value)):
        raise ValueError(f"a duration needs a unit, such as \"5m\" (ms, s, m, h or d); "
                         f"got the bare number {value!r}")
    if isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as '90s', '15m', '1h' or '2d', got {value!r}")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"expected an http(s) URL such as https://example.com, got {value!r}")
    return value.rstrip("/")


def _matching(pattern: str, expected: str) -> BeforeValidator:
    """A string check with a message that says what was expected and what was given."""
    regex = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not regex.match(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return BeforeValidator(check)


HttpUrl = Annotated[str, BeforeValidator(lambda v: _http_url(v) if isinstance(v, str) else v)]
Email = Annotated[str, _matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                                 "an e-mail address such as feedback@example.com")]
EnvName = Annotated[str, _matching(r"^[A-Za-z_][A-Za-z0-9_]*$",
                                   "an environment variable name such as MY_TOKEN")]
ProgramName = Annotated[str, _matching(r"^[a-z0-9][a-z0-9_-]{0,62}$",
                                       "lower-case letters, digits, '-' or '_' (max 63)")]
PropertyPrefix = Annotated[str, _matching(r"^[a-z][a-z0-9_]{0,39}$",
                                          "a property prefix such as cl_nps_pro (lower-case "
                                          "letters, digits and '_', max 40)")]
Language = Annotated[str, _matching(r"^[a-z]{2,3}$", "a language code such as en, fr or nb")]
Subdomain = Annotated[str, _matching(r"^[a-z0-9][a-z0-9-]{0,62}$",
                                     "the Zendesk subdomain, e.g. acme for acme.zendesk.com")]


def _clock_time(value: object) -> object:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
        return time(int(value[:2]), int(value[3:]))
    raise ValueError(f"expected a time of day such as '21:00', got {value!r}")


ClockTime = Annotated[time, BeforeValidator(_clock_time)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TextKey = Literal["subject", "intro", "question", "follow_up", "thanks", "reminder_subject",
                  "reminder_intro"]


class Model(BaseModel):
    """Every config table: unknown keys refused, values frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
