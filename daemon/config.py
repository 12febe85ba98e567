"""The configuration: TOML parsed once into frozen pydantic models, every problem reported at once.

Secrets never live in the file: the file names environment variables, and env_secrets.py
reads the values into `SecretStr`s so they never print. config_check.py words the problems.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from closedloop.daemon.actions.alerts.settings import AlertSettings
from closedloop.daemon.actions.rule import FollowUpRule
from closedloop.daemon.brand import Brand, BrandSettings, resolve_brand
from closedloop.daemon.channels.settings import SmsSettings, check_program_channels
from closedloop.daemon.config_check import cross_references, describe, location, mask_url
from closedloop.daemon.config_types import (
    SUPPORTED_CRMS,
    WEEKDAYS,
    ClockTime,
    Duration,
    Email,
    EnvName,
    HttpUrl,
    Language,
    Model,
    ProgramName,
    Subdomain,
    Weekday,
)
from closedloop.daemon.i18n import check_language
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes.settings import ThemeSettings
from closedloop.daemon.jobs.windows import CoalescingSettings
from closedloop.daemon.program_settings import ProgramSettings
from closedloop.daemon.rules.business_hours import BusinessHours
from closedloop.daemon.surveys import Policy, Program
from closedloop.daemon.triggers.settings import TriggerSettings
from closedloop.daemon.web.admin.settings import UserSettings
from closedloop.daemon.web.widget.settings import WidgetSettings
from closedloop.daemon.zones import TimeZone
from closedloop.integration.errors import ConfigError


class DaemonSettings(Model):
    state_url: str = "sqlite:///closedloop.db"
    public_url: HttpUrl = "http://127.0.0.1:8080"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    secret_key_env: EnvName = "CLOSEDLOOP_SECRET_KEY"  # noqa: S105 (a variable's name, not a secret)
    link_max_age: Duration = timedelta(days=30)
    poll_every: Duration = timedelta(minutes=1)
    dispatch_every: Duration = timedelta(seconds=30)
    writeback_every: Duration = timedelta(minutes=1)
    # NPS list programs: one pass over each audience per run (a CRM read per 100-250 members).
    cadence_every: Duration = timedelta(hours=6)
    log_format: Literal["auto", "json", "console"] = "auto"
    # The PostgreSQL password is read from this environment variable and put into state_url,
    # which then carries none (see state_url() below).
    state_password_env: EnvName | None = None

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql|postgres)(\+\w+)?://", value):
            raise ValueError("expected sqlite:///path/to/file.db or postgresql://user@host/db, "
                             f"got {mask_url(value)!r}")
        return value

    @model_validator(mode="after")
    def _password_in_one_place(self) -> DaemonSettings:
        if self.state_password_env is None:
            return self
        if not re.match(r"^postgres(ql)?(\+\w+)?://", self.state_url):
            raise ValueError("state_password_env is for a PostgreSQL state_url; this one is "
                             "SQLite, which has no password (remove state_password_env)")
        if urlparse(self.state_url).password is not None:
            raise ValueError("both state_url and state_password_env give a password: remove "
                             "it from state_url and keep it only in the environment variable")
        return self


_DEFAULT_TOKEN_ENV = {"hubspot": "CLOSEDLOOP_HUBSPOT_TOKEN", "zendesk": "CLOSEDLOOP_ZENDESK_TOKEN"}


class SourceSettings(Model):
    crm: Literal["hubspot", "zendesk"]
    # Default: https://api.hubapi.com, or https://<subdomain>.zendesk.com
    base_url: HttpUrl = ""
    token_env: EnvName = ""  # default: CLOSEDLOOP_HUBSPOT_TOKEN / CLOSEDLOOP_ZENDESK_TOKEN
    subdomain: Subdomain | None = None  # Zendesk only
    email: Email | None = None  # Zendesk only: the agent (an admin) the API token belongs to
    mapping: Path | None = None  # None: the bundled mappings/<crm>.toml
    start_at: datetime | None = None  # where the first poll starts; default: one day back
    pipelines: tuple[str, ...] = ()
    # One CRM call is tried at most this often, sleeping at most this long in total; then the
    # job leaves the rows for its next run (nothing is lost, the scheduler thread is not held).
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_budget: Duration = timedelta(seconds=60)
    # Zendesk only: how often an update_many job's status is read, and how long it may run
    # before the rows are handed back for a later retry.
    job_poll_interval: Duration = timedelta(seconds=1)
    job_timeout: Duration = timedelta(seconds=120)
    # CRM change notifications (POST /hooks/<source>, see daemon/web/hooks): the CRM pushes
    # closed tickets and the poll becomes a safety net whose interval doubles while it finds
    # nothing, from daemon.poll_every up to safety_poll_every. Without notifications the
    # poll still backs off on empty reads, up to idle_poll_max (the most a closure can wait
    # to be seen on a quiet source). The signing secret (HubSpot: the app's client secret;
    # Zendesk: the webhook's signing secret) is read from webhook_secret_env.
    notifications: bool = False
    webhook_secret_env: EnvName = ""  # default: CLOSEDLOOP_<CRM>_WEBHOOK_SECRET
    safety_poll_every: Duration = timedelta(hours=1)
    idle_poll_max: Duration = timedelta(minutes=5)
    # Pacing (integration/pacing): one limiter per source, shared by all its jobs. The CRM's
    # rate-limit headers correct these plan defaults at the first answer. False turns it off
    # (a sandbox without limits, a proxy that paces for you); 429s are still honoured.
    pacing: bool = True
    # The share of the account-wide quotas (HubSpot's daily limit and search, Zendesk's
    # per-minute limit) this source may spend; the rest is left to other integrations.
    quota_share: float = Field(default=0.9, gt=0, le=1)
    # HubSpot only: the share of the app's own 10-second window (lower it when another
    # tool uses the same private app or service key).
    burst_share: float = Field(default=1.0, gt=0, le=1)
    # Requests per window of the plan: HubSpot per 10 s (100 Free/Starter, 190
    # Professional/Enterprise, 250 with the limit increase; default 190), Zendesk per
    # minute (200 Team, 400 Growth/Professional, 700 Enterprise, 2500 High Volume; default
    # 200). HubSpot's daily_limit: 250000, 625000 (default) or 1000000.
    rate_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    daily_limit: int = Field(default=625_000, ge=1, le=100_000_000)
    # Survey triggers on POST /hooks/<source> (daemon/triggers): a HubSpot workflow's "Send a
    # webhook" or a Zendesk trigger naming a program and a person; same secret as above.
    triggers: bool = False

    @model_validator(mode="before")
    @classmethod
    def _crm_defaults(cls, data: Any) -> Any:
        """Fill the per-CRM defaults, and refuse keys that belong to the other CRM."""
        if not isinstance(data, dict) or data.get("crm") not in SUPPORTED_CRMS:
            return data
        data = dict(data)
        crm = data["crm"]
        if crm == "hubspot":
            for key in ("subdomain", "email", "job_poll_interval", "job_timeout"):
                if key in data:
                    raise ValueError(f"{key} is a Zendesk setting; a HubSpot source has none")
            data.setdefault("rate_limit", 190)
            data.setdefault("base_url", "https://api.hubapi.com")
        else:
            for key in ("burst_share", "daily_limit"):
                if key in data:
                    raise ValueError(f"{key} is a HubSpot setting; Zendesk has one "
                                     "per-minute limit (rate_limit, quota_share)")
            data.setdefault("rate_limit", 200)
            if not data.get("subdomain"):
                raise ValueError("subdomain is required for a Zendesk source "
                                 "(acme for acme.zendesk.com)")
            if not data.get("email"):
                raise ValueError("email is required for a Zendesk source: the address of the "
                                 "agent whose API token token_env holds")
            if isinstance(data["subdomain"], str):
                data.setdefault("base_url", f"https://{data['subdomain']}.zendesk.com")
        data.setdefault("token_env", _DEFAULT_TOKEN_ENV[crm])
        data.setdefault("webhook_secret_env", f"CLOSEDLOOP_{crm.upper()}_WEBHOOK_SECRET")
        return data

    @field_validator("start_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A TOML local date-time has no offset: read it as UTC, not as the host's zone."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class MailSettings(Model):
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password_env: EnvName = "CLOSEDLOOP_SMTP_PASSWORD"  # noqa: S105 (a variable's name, not a secret)
    from_address: Email
    from_name: str = ""
    reply_to: Email | None = None
    # The envelope sender (Return-Path) on your own domain, where bounces go; default from_address.
    bounce_address: Email | None = None
    # A Maildir where bounce reports (DSNs) arrive; hard bounces there suppress the address.
    bounce_maildir: Path | None = None


class BusinessHoursSettings(Model):
    """When the team works: follow-up deadlines count only these hours (rules.business_hours)."""

    days: tuple[Weekday, ...] = WEEKDAYS[:5]  # type: ignore[assignment]
    hours: tuple[ClockTime, ClockTime] = (time(9, 0), time(17, 0))
    holidays: tuple[date, ...] = ()
    timezone: TimeZone | None = None  # None: rules.default_timezone

    @model_validator(mode="after")
    def _sane(self) -> BusinessHoursSettings:
        if not self.days:
            raise ValueError("at least one working day is needed")
        if not self.hours[0] < self.hours[1]:
            raise ValueError("hours = [opens, closes] on the same day, such as "
                             "[\"09:00\", \"17:00\"]")
        return self

    def calendar(self) -> BusinessHours:
        return BusinessHours(days=frozenset(WEEKDAYS.index(d) for d in self.days),
                             opens=self.hours[0], closes=self.hours[1],
                             holidays=frozenset(self.holidays))


class RulesSettings(Model):
    """Rules that hold for every program and CRM (one ledger per person, by e-mail)."""

    global_cooldown: Duration = timedelta(days=7)
    quiet_hours: tuple[ClockTime, ...] = (time(21, 0), time(8, 0))  # [] = none
    send_days: tuple[Weekday, ...] = WEEKDAYS  # type: ignore[assignment]
    default_timezone: TimeZone = "UTC"
    fallback_language: Language = "en"
    snooze: Duration = timedelta(days=182)
    business_hours: BusinessHoursSettings = Field(default_factory=BusinessHoursSettings)

    @field_validator("quiet_hours")
    @classmethod
    def _pair(cls, value: tuple[time, ...]) -> tuple[time, ...]:
        if len(value) not in (0, 2):
            raise ValueError("expected [start, end] such as [\"21:00\", \"08:00\"], or [] for none")
        if len(value) == 2 and value[0] == value[1]:
            raise ValueError("start and end are the same time; use [] for no quiet hours")
        return value

    @field_validator("send_days")
    @classmethod
    def _some_day(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one send day is needed")
        return value

    @field_validator("fallback_language")
    @classmethod
    def _fallback_shipped(cls, value: str) -> str:
        return check_language(value)  # the error lists the shipped languages

    def follow_up_rules(self, programs: tuple[ProgramSettings, ...]) -> dict[str, FollowUpRule]:
        """Program name -> its follow-up rule, for the programs that have one."""
        hours = self.business_hours
        zone = hours.timezone or self.default_timezone
        return {p.name: work.rule(p.name, hours.calendar(), zone)
                for p in programs if (work := p.follow_up_work()) is not None}

    def to_policy(self) -> Policy:
        quiet = self.quiet_hours
        return Policy(
            global_cooldown=self.global_cooldown,
            quiet_start=quiet[0] if quiet else None, quiet_end=quiet[1] if quiet else None,
            send_days=frozenset(WEEKDAYS.index(d) for d in self.send_days),
            default_timezone=self.default_timezone, fallback_language=self.fallback_language,
            snooze=self.snooze,
        )


WebhookEvent = Literal["survey.sent", "response.created", "response.updated", "comment.added",
                       "contact.unsubscribed", "follow_up.created"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "survey.sent", "response.created", "response.updated", "comment.added",
    "contact.unsubscribed", "follow_up.created")


class WebhookSettings(Model):
    """One `[[webhooks]]` endpoint: events posted there, signed with its own secret."""

    name: ProgramName
    url: HttpUrl
    secret_env: EnvName
    events: tuple[WebhookEvent, ...] = WEBHOOK_EVENTS
    programs: tuple[str, ...] | None = None  # None: every program
    timeout: Duration = timedelta(seconds=10)

    @field_validator("events")
    @classmethod
    def _some_event(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("list at least one event (or leave `events` out for all of them)")
        return value

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(seconds=60):
            raise ValueError("expected a timeout between 1s and 60s")
        return value


class Config(Model):
    daemon: DaemonSettings = DaemonSettings()
    sources: dict[str, SourceSettings] = Field(min_length=1)
    mail: MailSettings
    rules: RulesSettings = RulesSettings()
    brand: BrandSettings = BrandSettings()
    programs: tuple[ProgramSettings, ...]
    alerts: tuple[AlertSettings, ...] = ()
    webhooks: tuple[WebhookSettings, ...] = ()
    reporting: ReportingSettings = ReportingSettings()
    users: tuple[UserSettings, ...] = ()  # dashboard sign-ins (also `closedloop users add`)
    themes: ThemeSettings = Field(default_factory=ThemeSettings)
    sms: SmsSettings = SmsSettings()  # daemon/channels/settings.py
    widget: WidgetSettings = WidgetSettings()  # [widget.sites.NAME]: in-page surveys
    triggers: TriggerSettings = Field(default_factory=TriggerSettings)  # daemon/triggers
    coalescing: CoalescingSettings = CoalescingSettings()  # jobs/windows.py

    @model_validator(mode="after")
    def _sms_programs(self) -> Config:
        check_program_channels(self.sms, {p.name: p.channel for p in self.programs})
        return self

    def program_list(self) -> list[Program]:
        return [replace(p.to_program(self.brand, self.mail.reply_to),
                        phone_region=self.sms.default_region) for p in self.programs]

    def default_brand(self) -> Brand:
        """The brand of pages no program owns (a cut link): [brand], named after the one
        company every program names, if they agree."""
        companies = {p.company for p in self.programs}
        company = companies.pop() if len(companies) == 1 else ""
        return resolve_brand(company, self.brand, support_email=self.mail.reply_to)

    def policy(self) -> Policy:
        return self.rules.to_policy()


def parse_config(data: Mapping[str, Any], origin: str = "config") -> Config:
    """Validate already-parsed TOML; every problem becomes one line of the ConfigError."""
    problems = cross_references(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = [f"{location(tuple(e['loc']))}: {describe(e)}" for e in exc.errors()]
        problems += cross_references(data)
    if problems:
        raise ConfigError([f"{origin}: {line}" for line in problems])
    return config


def load_config(path: Path) -> Config:
    """Read and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (run `closedloop init {path}` to write a "
                           "commented example config there)"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_config(data, str(path))


def redacted(config: Config) -> dict[str, Any]:
    """The effective config as plain data, for `closedloop config show` (holds no secret)."""
    data = config.model_dump(mode="json")
    data["daemon"]["state_url"] = mask_url(data["daemon"]["state_url"])
    for alert in data.get("alerts", []):  # an incoming-webhook URL is a credential
        if alert.get("url"):
            parsed = urlparse(alert["url"])
            alert["url"] = f"{parsed.scheme}://{parsed.netloc}/***"
    for hook in data.get("webhooks", []):
        hook["url"] = mask_url(hook["url"])
    for user in data.get("users", []):
        user["password_hash"] = "***"  # noqa: S105 (a placeholder, not a password)
    return data
