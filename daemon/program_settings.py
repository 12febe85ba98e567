"""`[[programs]]`: one survey program's settings, and `[programs.follow_up]`, the answers that
become follow-up work; `to_program` turns them into the Program the jobs run."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from closedloop.daemon.actions.rule import FollowUpRule
from closedloop.daemon.brand import BrandSettings, resolve_brand
from closedloop.daemon.channels.settings import ChannelChoice
from closedloop.daemon.config_types import (
    Duration,
    Language,
    Model,
    ProgramName,
    PropertyPrefix,
    TextKey,
)
from closedloop.daemon.i18n import check_language
from closedloop.daemon.rules.business_hours import BusinessHours
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.triggers.settings import event_fed_problem
from closedloop.daemon.zones import TimeZone
from closedloop.integration.base import MemberSelection


def _follow_up_form(value: object) -> str:
    """`follow_up` is the question (a string) or follow-up work (a table): validate only
    the form given, so an error names the table's key, not both forms."""
    return "question" if isinstance(value, str) else "work"


class FollowUpSettings(Model):
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


class ProgramSettings(Model):
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
    texts: dict[Language, dict[TextKey, str]] = Field(default_factory=dict)
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
