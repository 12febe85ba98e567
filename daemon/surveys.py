"""Survey programs and their scoring: the scales, the categories and the aggregate scores.

The question texts are the industry standard; only the company name, language and
follow-up wording vary, so a program is mostly data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


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
    enabled: bool = True

    @property
    def scale(self) -> Scale:
        return SCALES[self.type]

    def matches(self, pipeline: str | None, stage: str | None) -> bool:
        """True when a ticket in this pipeline and stage triggers the program."""
        if self.pipelines and pipeline not in self.pipelines:
            return False
        return not (self.stages and stage not in self.stages)


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
