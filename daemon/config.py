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
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from closedloop.daemon.actions.alerts.settings import AlertSettings
from closedloop.daemon.actions.rule import FollowUpRule
from closedloop.daemon.brand import Brand, BrandSettings, resolve_brand
from closedloop.daemon.channels.settings import ChannelChoice, SmsSettings, check_program_channels
from closedloop.daemon.config_check import cross_references, describe, location, mask_url
from closedloop.daemon.i18n import check_language
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.insight.themes.settings import ThemeSettings
from closedloop.daemon.jobs.windows import CoalescingSettings
from closedloop.daemon.rules.business_hours import BusinessHours
from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.triggers.settings import TriggerSettings, event_fed_problem
from closedloop.daemon.web.admin.settings import UserSettings
from closedloop.daemon.web.widget.settings import WidgetSettings
from closedloop.daemon.zones import TimeZone
from closedloop.integration.base import MemberSelection
from closedloop.integration.errors import ConfigError

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


class SourceSettings(_Model):
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
    safety_poll_every: Duration = timedelta(minutes=15)
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


class MailSettings(_Model):
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


def _follow_up_form(value: object) -> str:
    """`follow_up` is the question (a string) or follow-up work (a table): validate only
    the form given, so an error names the table's key, not both forms."""
    return "question" if isinstance(value, str) else "work"


class BusinessHoursSettings(_Model):
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


class RulesSettings(_Model):
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


class FollowUpSettings(_Model):
    """[programs.follow_up]: which answers become a task (HubSpot) or a follow-up ticket
    (Zendesk), for whom, and by when."""

    categories: tuple[str, ...] = ()  # e.g. ["detractor"]; with scores, either matches
    scores: tuple[int, int] | None = None  # [low, high], inclusive
    comment: Literal["any", "with", "without"] = "any"
    deadline: Duration = timedelta(hours=8)  # business hours (rules.business_hours)
    timezone: TimeZone | None = None  # the deadline's zone; None: rules.business_hours'
    owner: str | None = Field(default=None, min_length=1)  # HubSpot owner / Zendesk agent id
    group: str | None = Field(default=None, min_length=1)  # Zendesk group id
    assign_to: Literal["original", "configured"] = "original"
    tags: tuple[str, ...] = ("closedloop_follow_up",)  # Zendesk follow-up ticket tags
    notify_customer: bool = False  # Zendesk: a public first comment mails the requester
    question: str | None = None  # the survey's follow-up question (as `follow_up = "..."`)
    # The ticket's address in the follow-up, {ticket_id} filled in; Zendesk default: the
    # agent view of the source's subdomain. HubSpot: e.g.
    # "https://app.hubspot.com/contacts/<portal id>/record/0-5/{ticket_id}".
    ticket_url: str | None = Field(default=None, pattern=r"^https?://\S*\{ticket_id\}\S*$")

    @model_validator(mode="after")
    def _something(self) -> FollowUpSettings:
        if not self.categories and self.scores is None:
            raise ValueError("say which answers get a follow-up: categories = [\"detractor\"] "
                             "and/or scores = [0, 6]")
        if self.scores is not None and self.scores[0] > self.scores[1]:
            raise ValueError("scores = [low, high] with low <= high")
        if self.assign_to == "configured" and not (self.owner or self.group):
            raise ValueError("assign_to = \"configured\" needs owner and/or group")
        return self

    def rule(self, program: str, calendar: BusinessHours, default_zone: str) -> FollowUpRule:
        return FollowUpRule(
            program=program, categories=frozenset(self.categories), scores=self.scores,
            comment=self.comment, deadline=self.deadline, calendar=calendar,
            zone=self.timezone or default_zone, owner=self.owner, group=self.group,
            use_configured=self.assign_to == "configured", tags=self.tags,
            notify_customer=self.notify_customer, ticket_url=self.ticket_url)


class ProgramSettings(_Model):
    name: ProgramName
    type: SurveyType
    source: str
    delay: Duration = timedelta(hours=1)
    company: str = Field(min_length=1)
    # A string is the survey's follow-up question; a table ([programs.follow_up]) says which
    # answers become follow-up work (and may carry the question as `question`).
    follow_up: Annotated[Annotated[str, Tag("question")]
                         | Annotated[FollowUpSettings, Tag("work")],
                         Discriminator(_follow_up_form)] | None = None
    threshold: int = Field(default=4, ge=1, le=5)
    pipelines: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    enabled: bool = True
    cooldown: Duration = timedelta(0)
    coalesce: Duration = timedelta(hours=24)
    sample: float = Field(default=100.0, gt=0, le=100)
    reminders: tuple[Duration, ...] = Field(default=(), max_length=3)
    expire_after: Duration = timedelta(days=14)
    prefix: PropertyPrefix | None = None
    # NPS on a cadence: exactly one of these names the audience (HubSpot list / Zendesk users).
    list_id: str | None = Field(default=None, min_length=1)
    organization_id: str | None = Field(default=None, min_length=1)
    tag: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)
    every_months: Literal[3, 6, 12] = 6
    customer_for: Duration = timedelta(days=30)
    texts: dict[Language, dict[TextKey, str]] = {}
    brand: BrandSettings | None = None  # keys set here override [brand] for this program
    channel: ChannelChoice = "email"  # daemon/channels; "web": [widget.sites] only
    trigger: Literal["ticket", "event"] = "ticket"  # "event": fed by triggers only

    @field_validator("reminders")
    @classmethod
    def _increasing(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if any(d <= timedelta(0) for d in value):
            raise ValueError("a reminder comes some time after the survey, e.g. \"3d\"")
        if list(value) != sorted(set(value)):
            raise ValueError("reminders must be in increasing order, e.g. [\"3d\", \"7d\"]")
        return value

    @field_validator("texts")
    @classmethod
    def _texts_shipped(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for language in value:  # a text in a language never chosen would be silently unused
            check_language(language)
        return value

    @model_validator(mode="after")
    def _audience(self) -> ProgramSettings:
        chosen = [k for k in ("list_id", "organization_id", "tag", "query") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(f"an NPS audience is one of list_id, organization_id, tag or query; "
                             f"got {', '.join(chosen)}")
        if chosen and self.type is not SurveyType.NPS:
            raise ValueError(f"{chosen[0]} (a member list on a cadence) is for NPS programs; "
                             f"a {self.type.value} program is triggered by closed tickets")
        event_fed_problem(self.trigger, chosen, self.pipelines + self.stages)
        return self

    def audience(self) -> MemberSelection | None:
        if not any((self.list_id, self.organization_id, self.tag, self.query)):
            return None
        return MemberSelection(list_id=self.list_id, organization_id=self.organization_id,
                               tag=self.tag, query=self.query)

    def question(self) -> str | None:
        """The follow-up question's wording, whichever form `follow_up` took."""
        if isinstance(self.follow_up, FollowUpSettings):
            return self.follow_up.question
        return self.follow_up

    def follow_up_work(self) -> FollowUpSettings | None:
        return self.follow_up if isinstance(self.follow_up, FollowUpSettings) else None

    def to_program(self, brand: BrandSettings | None = None,
                   support_email: str | None = None) -> Program:
        """The program; `brand` is the config's [brand], under this program's own."""
        return Program(
            name=self.name, type=self.type, source=self.source, delay=self.delay,
            company=self.company, follow_up=self.question(), threshold=self.threshold,
            pipelines=self.pipelines, stages=self.stages, enabled=self.enabled,
            cooldown=self.cooldown, coalesce=self.coalesce, sample=self.sample,
            reminders=self.reminders, expire_after=self.expire_after, prefix=self.prefix or "",
            audience=self.audience(), every_months=self.every_months,
            customer_for=self.customer_for,
            texts={lang: {str(key): text for key, text in texts.items()}
                   for lang, texts in self.texts.items()},
            brand=resolve_brand(self.company, brand, self.brand, support_email=support_email),
            channel=self.channel,
            trigger=self.trigger,
        )


WebhookEvent = Literal["survey.sent", "response.created", "response.updated", "comment.added",
                       "contact.unsubscribed", "follow_up.created"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "survey.sent", "response.created", "response.updated", "comment.added",
    "contact.unsubscribed", "follow_up.created")


class WebhookSettings(_Model):
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


class Config(_Model):
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
