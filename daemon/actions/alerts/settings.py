"""`[[alerts]]`: one rule, its condition and its channel, validated when the config loads.

A rule is either **per answer** (`kind = "answer"`: programs, categories, score range, comment
words or regex, segment filter) or **rolling** over a segment (`csat_share`, `nps_drop`,
`response_rate`, `no_answers`) with a minimum sample. Each rule has one channel; two
channels for the same condition are two rules.

URLs of Slack and Teams incoming webhooks are credentials: they may be named by an
environment variable (`url_env`) instead of written in the file; a generic webhook's signing
secret always comes from the environment (`secret_env`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from closedloop.daemon.config_types import parse_duration
from closedloop.daemon.insight.segments import SEGMENT_KEYS
from closedloop.integration.errors import ConfigError

Kind = Literal["answer", "csat_share", "nps_drop", "response_rate", "no_answers"]
Channel = Literal["email", "slack", "teams", "webhook"]
def _segment_key(value: object) -> object:
    if isinstance(value, str) and value not in SEGMENT_KEYS:
        raise ValueError(f"unknown segment {value!r}; expected one of: "
                         f"{', '.join(SEGMENT_KEYS)}")
    return value


SegmentKey = Annotated[str, BeforeValidator(_segment_key)]

MAX_REGEX = 200  # characters of a comment_regex
MAX_COMMENT = 2000  # characters of a comment a rule reads (re has no timeout: bound the input)
# A group that repeats something itself repeated, e.g. (a+)+ or (\w*)*: the classic
# catastrophic-backtracking shape, refused at load.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _http_url(value: object) -> object:
    if isinstance(value, str):
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"expected an http(s) URL such as https://hooks.example.com/x, "
                             f"got {value!r}")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
RuleName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class AlertSettings(BaseModel):
    """One `[[alerts]]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RuleName
    kind: Kind = "answer"
    enabled: bool = True
    # -- which answers (every kind) ------------------------------------------------------------
    programs: tuple[str, ...] = ()  # empty: every program
    segment: dict[SegmentKey, tuple[str, ...]] = {}  # only answers in these segments
    # -- per answer ----------------------------------------------------------------------------
    categories: tuple[str, ...] = ()  # e.g. ["detractor"], ["unsatisfied"]
    score_min: int | None = Field(default=None, ge=0, le=10)
    score_max: int | None = Field(default=None, ge=0, le=10)
    comment_words: tuple[str, ...] = ()  # any of these words (case-insensitive, whole words)
    comment_regex: str | None = Field(default=None, min_length=1)
    # -- rolling -------------------------------------------------------------------------------
    segment_by: SegmentKey | None = None  # one figure per segment; None: all answers together
    threshold: float | None = None  # percent (csat_share, response_rate) or NPS points
    last: int | None = Field(default=None, ge=1, le=10_000)  # csat_share: the last N answers
    window: Duration | None = None  # the last D days (nps_drop: this period vs the one before)
    min_sample: int = Field(default=5, ge=1)
    # -- channel -------------------------------------------------------------------------------
    channel: Channel
    url: HttpUrl | None = None
    url_env: EnvName | None = None
    secret_env: EnvName | None = None  # webhook: the Standard Webhooks secret (whsec_...)
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = ()
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "en"  # e-mail: the readers'
    timeout: Duration = timedelta(seconds=10)
    # -- flood: more than flood_max alerts of this rule within flood_window become one digest
    flood_max: int = Field(default=10, ge=1)
    flood_window: Duration = timedelta(minutes=15)

    @field_validator("comment_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_REGEX:
            raise ValueError(f"a comment_regex is at most {MAX_REGEX} characters; "
                             f"got {len(value)}")
        if _NESTED_QUANTIFIER.search(value):
            raise ValueError("nested repetition such as (a+)+ can take exponential time on "
                             f"a long comment; rewrite it without a repeated group: {value!r}")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc}): {value!r}") from None
        return value

    @field_validator("comment_words")
    @classmethod
    def _words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not w.strip() for w in value):
            raise ValueError("a comment word cannot be empty")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        from closedloop.daemon.i18n import check_language

        return check_language(value)

    @model_validator(mode="after")
    def _consistent(self) -> AlertSettings:
        self._check_kind()
        self._check_channel()
        return self

    def _check_kind(self) -> None:
        per_answer = {"categories": self.categories, "score_min": self.score_min is not None,
                      "score_max": self.score_max is not None,
                      "comment_words": self.comment_words, "comment_regex": self.comment_regex}
        rolling = {"segment_by": self.segment_by, "threshold": self.threshold is not None,
                   "last": self.last, "window": self.window}
        if self.kind == "answer":
            if wrong := [k for k, v in rolling.items() if v]:
                raise ValueError(f"{', '.join(wrong)}: for rolling alerts; a kind = \"answer\" "
                                 "alert fires per answer")
            if self.score_min is not None and self.score_max is not None \
                    and self.score_min > self.score_max:
                raise ValueError(f"score_min ({self.score_min}) is above score_max "
                                 f"({self.score_max})")
            return
        if wrong := [k for k, v in per_answer.items() if v]:
            raise ValueError(f"{', '.join(wrong)}: for kind = \"answer\" alerts only")
        if self.kind == "no_answers":
            if self.window is None:
                raise ValueError("window is required: no answers for how long, e.g. \"3d\"")
            return
        if self.threshold is None:
            raise ValueError(f"threshold is required for kind = \"{self.kind}\" (percent, "
                             "or NPS points for nps_drop)")
        if self.kind in ("csat_share", "response_rate") and not 0 <= self.threshold <= 100:
            raise ValueError(f"threshold is a percentage from 0 to 100, got {self.threshold}")
        if self.kind == "csat_share":
            if (self.last is None) == (self.window is None):
                raise ValueError("give exactly one of last (the last N answers) or window "
                                 "(the last D days)")
        elif self.last is not None:
            raise ValueError(f"last is for csat_share; {self.kind} reads a window of days")
        elif self.window is None:
            raise ValueError(f"window is required for kind = \"{self.kind}\", e.g. \"7d\"")

    def _check_channel(self) -> None:
        if self.channel == "email":
            if not self.to:
                raise ValueError("to is required for an e-mail alert: a list of addresses")
            if self.url or self.url_env or self.secret_env:
                raise ValueError("url, url_env and secret_env are for webhook channels; an "
                                 "e-mail alert goes to `to`")
            return
        if self.to:
            raise ValueError(f"to is for e-mail alerts; a {self.channel} alert posts to url")
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"give exactly one of url or url_env (an environment variable "
                             f"holding the {self.channel} webhook URL)")
        if self.channel == "webhook" and self.secret_env is None:
            raise ValueError("secret_env is required for a generic webhook: the environment "
                             "variable holding its Standard Webhooks secret (whsec_...)")
        if self.channel != "webhook" and self.secret_env is not None:
            raise ValueError(f"secret_env is for generic webhooks; {self.channel} does not "
                             "sign requests")


def alert_references(data: Mapping[str, Any]) -> list[str]:
    """Checks across sections (run on the raw TOML): unknown programs, repeated names."""
    alerts, programs = data.get("alerts"), data.get("programs")
    if not isinstance(alerts, list):
        return []
    known = {str(p.get("name")) for p in programs if isinstance(p, dict)} \
        if isinstance(programs, list) else set[str]()
    problems: list[str] = []
    seen: set[str] = set()
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            continue
        name = alert.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(f"alerts[{i}].name: {name!r} is used by an earlier alert")
            seen.add(name)
        names = alert.get("programs")
        for program in names if isinstance(names, list) else []:
            if isinstance(program, str) and known and program not in known:
                problems.append(f"alerts[{i}].programs: {program!r} is not a configured "
                                f"program; expected one of: {', '.join(sorted(known))}")
    return problems


def channel_secrets(alerts: tuple[AlertSettings, ...],
                    env: Mapping[str, str] | None = None) -> dict[str, tuple[str, str | None]]:
    """rule name -> (URL, webhook secret), read from the environment; ConfigError naming
    every missing variable at once. E-mail rules have none."""
    environ = os.environ if env is None else env
    problems: list[str] = []
    found: dict[str, tuple[str, str | None]] = {}
    for i, rule in enumerate(alerts):
        if rule.channel == "email":
            continue
        url = rule.url
        if rule.url_env is not None:
            url = environ.get(rule.url_env, "").strip()
            if not url:
                problems.append(f"alerts[{i}].url_env: environment variable {rule.url_env} is "
                                f"not set (expected the {rule.channel} webhook URL)")
            else:
                try:
                    _http_url(url)
                except ValueError:
                    problems.append(f"alerts[{i}].url_env: {rule.url_env} does not hold an "
                                    "http(s) URL")
        secret = None
        if rule.secret_env is not None:
            secret = environ.get(rule.secret_env, "").strip()
            if not secret:
                problems.append(f"alerts[{i}].secret_env: environment variable "
                                f"{rule.secret_env} is not set (expected a whsec_... secret)")
        found[rule.name] = (url or "", secret)
    if problems:
        raise ConfigError(problems)
    return found
