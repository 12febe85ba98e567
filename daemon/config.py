"""The configuration: TOML parsed once into frozen pydantic models, every problem reported at once.

Secrets never live in the file: the file names environment variables, and the values are
read into `SecretStr`s so they never print.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from daemon.surveys import Program, SurveyType
from integration.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
SUPPORTED_CRMS = ("hubspot",)


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '1h', '2d' or a number of seconds → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as '90s', '15m', '1h' or '2d', got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonSettings(_Model):
    state_url: str = "sqlite:///closedloop.db"
    public_url: HttpUrl = "http://127.0.0.1:8080"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    secret_key_env: EnvName = "CLOSEDLOOP_SECRET_KEY"  # noqa: S105 (a variable's name, not a secret)
    link_max_age: Duration = timedelta(days=30)
    poll_every: Duration = timedelta(minutes=1)
    dispatch_every: Duration = timedelta(seconds=30)
    writeback_every: Duration = timedelta(minutes=1)
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql|postgres)(\+\w+)?://", value):
            raise ValueError("expected sqlite:///path/to/file.db or postgresql://user@host/db, "
                             f"got {mask_url(value)!r}")
        return value


class SourceSettings(_Model):
    crm: Literal["hubspot"]
    base_url: HttpUrl = "https://api.hubapi.com"
    token_env: EnvName = "CLOSEDLOOP_HUBSPOT_TOKEN"  # noqa: S105 (a variable's name, not a secret)
    mapping: Path | None = None  # None: the bundled mappings/<crm>.toml
    start_at: datetime | None = None  # where the first poll starts; default: one day back
    pipelines: tuple[str, ...] = ()
    # One CRM call is tried at most this often, sleeping at most this long in total; then the
    # job leaves the rows for its next run (nothing is lost, the scheduler thread is not held).
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_budget: Duration = timedelta(seconds=60)


    @field_validator("start_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A TOML local date-time has no offset: read it as UTC, not as the host's zone."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class MailSettings(_Model):
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password_env: EnvName = "CLOSEDLOOP_SMTP_PASSWORD"  # noqa: S105 (a variable's name, not a secret)
    from_address: Email
    from_name: str = ""
    reply_to: Email | None = None


class ProgramSettings(_Model):
    name: ProgramName
    type: SurveyType
    source: str
    delay: Duration = timedelta(hours=1)
    company: str = Field(min_length=1)
    follow_up: str | None = None
    threshold: int = Field(default=4, ge=1, le=5)
    pipelines: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    enabled: bool = True

    def to_program(self) -> Program:
        return Program(
            name=self.name, type=self.type, source=self.source, delay=self.delay,
            company=self.company, follow_up=self.follow_up, threshold=self.threshold,
            pipelines=self.pipelines, stages=self.stages, enabled=self.enabled,
        )


class Config(_Model):
    daemon: DaemonSettings = DaemonSettings()
    sources: dict[str, SourceSettings] = Field(min_length=1)
    mail: MailSettings
    programs: tuple[ProgramSettings, ...]

    def program_list(self) -> list[Program]:
        return [p.to_program() for p in self.programs]


class Secrets(_Model):
    """Secrets read from the environment, kept apart so `config show` can never print them."""

    secret_key: SecretStr
    source_tokens: dict[str, SecretStr]
    smtp_password: SecretStr | None = None


def mask_url(value: str) -> str:
    """A URL with its password replaced, fit for messages and `config show`."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", value)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for item in loc:
        out += f"[{item}]" if isinstance(item, int) else ("." if out else "") + str(item)
    return out or "(top level)"


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see config.example.toml for the keys)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str):
        value = mask_url(value)
    if isinstance(value, str | int | float) and repr(value) not in message:
        message += f" (got {value!r})"
    return message


def _cross_references(data: Mapping[str, Any]) -> list[str]:
    """Checks that span sections; run on the raw data so they join the field errors."""
    programs = data.get("programs")
    if not isinstance(programs, list) or not programs:
        return ["programs: at least one [[programs]] table is needed"]
    sources = data.get("sources")
    known = sorted(sources) if isinstance(sources, dict) else []
    problems: list[str] = []
    seen: set[str] = set()
    for i, program in enumerate(programs):
        if not isinstance(program, dict):
            continue
        name, source = program.get("name"), program.get("source")
        if isinstance(name, str):
            if name in seen:
                problems.append(f"programs[{i}].name: {name!r} is used by an earlier program")
            seen.add(name)
        if isinstance(source, str) and known and source not in known:
            problems.append(f"programs[{i}].source: {source!r} is not a configured source; "
                            f"expected one of: {', '.join(known)}")
    return problems


def parse_config(data: Mapping[str, Any], origin: str = "config") -> Config:
    """Validate already-parsed TOML; every problem becomes one line of the ConfigError."""
    problems = _cross_references(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(tuple(e['loc']))}: {_describe(e)}" for e in exc.errors()]
        problems += _cross_references(data)
    if problems:
        raise ConfigError([f"{origin}: {line}" for line in problems])
    return config


def load_config(path: Path) -> Config:
    """Read and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (copy config.example.toml to start)"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_config(data, str(path))


def read_secrets(config: Config, env: Mapping[str, str] | None = None) -> Secrets:
    """Read every secret the config names from the environment; report all the missing ones."""
    environ = os.environ if env is None else env
    problems: list[str] = []

    def need(var: str, what: str, key: str) -> SecretStr:
        value = environ.get(var, "").strip()
        if not value:
            problems.append(f"{key}: environment variable {var} is not set (expected {what})")
        elif any(ch.isspace() or ord(ch) < 32 for ch in value):
            problems.append(f"{key}: environment variable {var} contains spaces or control "
                            "characters (a line break from an env file?); expected one token")
        return SecretStr(value)

    secret_key = need(
        config.daemon.secret_key_env,
        "a long random string that signs survey links, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe())'`",
        "daemon.secret_key_env",
    )
    tokens = {
        name: need(src.token_env, "the HubSpot service key or private-app access token",
                   f"sources.{name}.token_env")
        for name, src in config.sources.items()
    }
    password = None
    if config.mail.username:
        password = need(config.mail.password_env, "the SMTP password for mail.username",
                        "mail.password_env")
    if problems:
        raise ConfigError(problems)
    return Secrets(secret_key=secret_key, source_tokens=tokens, smtp_password=password)


def redacted(config: Config) -> dict[str, Any]:
    """The effective config as plain data, for `closedloop config show` (holds no secret)."""
    data = config.model_dump(mode="json")
    data["daemon"]["state_url"] = mask_url(data["daemon"]["state_url"])
    return data
