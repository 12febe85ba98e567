"""Survey programs and their scoring: the scales, the categories and the aggregate scores.

The question texts are the industry standard; only the company name, language and
follow-up wording vary, so a program is mostly data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum

from closedloop.daemon.brand import Brand
from closedloop.integration.base import MemberSelection


class SurveyType(StrEnum):
    CSAT = "csat"
    CES = "ces"
    NPS = "nps"


@dataclass(frozen=True)
class Scale:
    """The answer buttons a survey shows, lowest first."""

    low: int
    high: int

    def __contains__(self, score: object) -> bool:
        return isinstance(score, int) and self.low <= score <= self.high

    @property
    def points(self) -> list[int]:
        return list(range(self.low, self.high + 1))


SCALES: dict[SurveyType, Scale] = {
    SurveyType.CSAT: Scale(1, 5),
    SurveyType.CES: Scale(1, 7),
    SurveyType.NPS: Scale(0, 10),
}

DEFAULT_CSAT_THRESHOLD = 4

CATEGORIES: dict[SurveyType, tuple[str, ...]] = {
    SurveyType.CSAT: ("unsatisfied", "satisfied"),
    SurveyType.CES: ("difficult", "neutral", "easy"),
    SurveyType.NPS: ("detractor", "passive", "promoter"),
}


@dataclass(frozen=True)
class Program:
    """One survey program: what to ask, whom (trigger filters), and how long after the close."""

    name: str
    type: SurveyType
    source: str
    delay: timedelta
    company: str
    follow_up: str | None = None
    threshold: int = DEFAULT_CSAT_THRESHOLD  # CSAT only: answers >= threshold are "satisfied"
    pipelines: tuple[str, ...] = ()  # empty: every pipeline
    stages: tuple[str, ...] = ()  # empty: every closed stage
    enabled: bool = True  # False: paused; queued sends are held until resumed or expired
    # -- fatigue and follow-up (issue 4) ------------------------------------------------------
    cooldown: timedelta = timedelta(0)  # no second survey of this program to a person within
    coalesce: timedelta = timedelta(hours=24)  # tickets closed this close together: one survey
    sample: float = 100.0  # percent of eligible surveys sent (deterministic per person+ticket)
    reminders: tuple[timedelta, ...] = ()  # after the survey was sent, to non-respondents
    expire_after: timedelta = timedelta(days=14)  # a survey not sent by then is dropped
    prefix: str = ""  # CRM property prefix; "" = "cl_<type>"
    # -- NPS on a cadence: set `audience` to survey its members instead of closed tickets --
    audience: MemberSelection | None = None
    every_months: int = 6
    customer_for: timedelta = timedelta(days=30)
    # language -> text key -> text, overriding the catalog's wording for this program
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    brand: Brand | None = None  # None: the default look under the program's company name
    # "ticket": closed tickets feed it (the poll); "event": only survey triggers do
    # (daemon/triggers: HubSpot workflows, Zendesk triggers, webhooks, manual and bulk sends)
    trigger: str = "ticket"

    @property
    def event_fed(self) -> bool:
        """True when only triggers queue this program's surveys (the ticket poll never)."""
        return self.trigger == "event"

    @property
    def branding(self) -> Brand:
        """The logo, colour and footer this program's mails and pages show."""
        return self.brand or Brand(company=self.company, logo_alt=self.company)

    @property
    def scale(self) -> Scale:
        return SCALES[self.type]

    @property
    def property_prefix(self) -> str:
        """Where this program's answers land in the CRM: several NPS programs need their own."""
        return self.prefix or f"cl_{self.type.value}"

    @property
    def on_cadence(self) -> bool:
        """True for a list-based NPS program (members surveyed every N months)."""
        return self.audience is not None

    def matches(self, pipeline: str | None, stage: str | None) -> bool:
        """True when a ticket in this pipeline and stage triggers the program."""
        if self.pipelines and pipeline not in self.pipelines:
            return False
        return not (self.stages and stage not in self.stages)


@dataclass(frozen=True)
class Policy:
    """Rules that hold across every program and CRM: a person is one person everywhere."""

    global_cooldown: timedelta = timedelta(days=7)  # no two surveys to a person within
    quiet_start: time | None = time(21, 0)  # no mail from (contact's local time) ...
    quiet_end: time | None = time(8, 0)  # ... until
    send_days: frozenset[int] = frozenset(range(7))  # 0 = Monday, as datetime.weekday()
    default_timezone: str = "UTC"  # when the CRM does not know the contact's zone
    fallback_language: str = "en"  # when the contact's language has no catalog
    snooze: timedelta = timedelta(days=182)  # "not for a while" on the unsubscribe page


def category(survey: SurveyType, score: int, threshold: int = DEFAULT_CSAT_THRESHOLD) -> str:
    """The bucket a workflow reacts to: detractor/passive/promoter, (un)satisfied, easy/…."""
    if score not in SCALES[survey]:
        raise ValueError(f"{survey} score {score} is outside {SCALES[survey]}")
    if survey is SurveyType.NPS:
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    if survey is SurveyType.CSAT:
        return "satisfied" if score >= threshold else "unsatisfied"
    return "easy" if score >= 5 else "neutral" if score == 4 else "difficult"


def nps(scores: Iterable[int]) -> float | None:
    """%promoters - %detractors, -100..100; None when there is no answer."""
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return 100.0 * (promoters - detractors) / len(values)


def csat(scores: Iterable[int], threshold: int = DEFAULT_CSAT_THRESHOLD) -> float | None:
    """Percentage of answers at or above the threshold, 0..100; None when there is no answer."""
    values = list(scores)
    if not values:
        return None
    return 100.0 * sum(1 for s in values if s >= threshold) / len(values)


def ces(scores: Iterable[int]) -> float | None:
    """Mean effort score, 1..7; None when there is no answer."""
    values = list(scores)
    if not values:
        return None
    return sum(values) / len(values)
