"""The maths of a report: scores, shares and their 95 % confidence intervals, from counts.

Everything is computed from a `Tally` (answers per score and per category group), so the
same code serves raw rows and rollups. No division happens on an empty tally: the figures
of nothing are None, never an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile

# Category groups per survey type: (low, middle, high); CSAT has no middle.
CATEGORY_NAMES: dict[str, tuple[str, str | None, str]] = {
    "nps": ("detractor", "passive", "promoter"),
    "csat": ("unsatisfied", None, "satisfied"),
    "ces": ("difficult", "neutral", "easy"),
}
LOW = {survey: names[0] for survey, names in CATEGORY_NAMES.items()}
HIGH = {survey: names[2] for survey, names in CATEGORY_NAMES.items()}


@dataclass
class Tally:
    """Answers of one survey type in one cell: how many, how many low/high, score moments.

    `low`/`high` are counted from the stored category (CSAT's threshold is the program's,
    applied when the answer was recorded), `scores` per score for the distribution.
    """

    n: int = 0
    low: int = 0
    high: int = 0
    total: int = 0  # sum of scores
    squares: int = 0  # sum of squared scores
    scores: dict[int, int] = field(default_factory=dict)

    def add(self, score: int, category_rank: int, count: int = 1) -> None:
        """Count `count` answers of `score`; rank 0 = low category, 2 = high, 1 = middle."""
        self.n += count
        self.low += count if category_rank == 0 else 0
        self.high += count if category_rank == 2 else 0
        self.total += score * count
        self.squares += score * score * count
        self.scores[score] = self.scores.get(score, 0) + count

    def merge(self, other: Tally) -> None:
        self.n += other.n
        self.low += other.low
        self.high += other.high
        self.total += other.total
        self.squares += other.squares
        for score, count in other.scores.items():
            self.scores[score] = self.scores.get(score, 0) + count


def category_rank(survey_type: str, category: str) -> int:
    """0 for the low category (detractor, unsatisfied, difficult), 2 for the high one."""
    low, _, high = CATEGORY_NAMES.get(survey_type, ("", None, ""))
    return 0 if category == low else 2 if category == high else 1


def nps_score(promoters: int, detractors: int, n: int) -> float | None:
    """%promoters − %detractors, −100..100; None for no answer."""
    return None if n <= 0 else 100.0 * (promoters - detractors) / n


def nps_interval(promoters: int, detractors: int, n: int,
                 z: float = Z95) -> tuple[float, float] | None:
    """NPS ± z·100·√var, var = (p_pro + p_det − (p_pro − p_det)²)/n (the trinomial
    variance of the difference of two shares), clipped to −100..100."""
    if n <= 0:
        return None
    pro, det = promoters / n, detractors / n
    variance = max(0.0, (pro + det - (pro - det) ** 2) / n)
    centre, half = 100.0 * (pro - det), 100.0 * z * math.sqrt(variance)
    return max(-100.0, centre - half), min(100.0, centre + half)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a share, in %; sane at 0 and at n (unlike p ± z·se)."""
    if n <= 0:
        return None
    p, z2 = successes / n, z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, 100.0 * (centre - half)), min(100.0, 100.0 * (centre + half))


def mean_interval(n: int, total: int, squares: int,
                  z: float = Z95) -> tuple[float, float] | None:
    """Normal-approximation interval of a mean (CES); None below two answers."""
    if n < 2:
        return None
    mean = total / n
    variance = max(0.0, (squares - n * mean * mean) / (n - 1))
    half = z * math.sqrt(variance / n)
    return mean - half, mean + half


def score_of(survey_type: str, tally: Tally) -> tuple[float | None, tuple[float, float] | None]:
    """The headline score of a tally and its 95 % interval: NPS, CSAT share %, CES mean."""
    if survey_type == "nps":
        return (nps_score(tally.high, tally.low, tally.n),
                nps_interval(tally.high, tally.low, tally.n))
    if survey_type == "csat":
        share = None if tally.n <= 0 else 100.0 * tally.high / tally.n
        return share, wilson_interval(tally.high, tally.n)
    mean = None if tally.n <= 0 else tally.total / tally.n
    return mean, mean_interval(tally.n, tally.total, tally.squares)


def shares_of(survey_type: str, tally: Tally) -> dict[str, float]:
    """Category -> share of answers in %; empty for no answer."""
    if tally.n <= 0:
        return {}
    low, middle, high = CATEGORY_NAMES.get(survey_type, ("low", "middle", "high"))
    shares = {low: 100.0 * tally.low / tally.n, high: 100.0 * tally.high / tally.n}
    if middle is not None:
        shares[middle] = 100.0 * (tally.n - tally.low - tally.high) / tally.n
    return shares
