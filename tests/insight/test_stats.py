"""The report maths against hand-computed values: NPS and its trinomial interval, Wilson
intervals at 0 and at n, CSAT shares, CES means; nothing divides by zero on no answer."""

from __future__ import annotations

import math

import pytest

from closedloop.daemon.insight.stats import (
    Tally,
    mean_interval,
    nps_interval,
    nps_score,
    score_of,
    shares_of,
    wilson_interval,
)


def approx(pair: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if pair is None else (round(pair[0], 4), round(pair[1], 4))


def test_nps_all_promoters_all_detractors_and_empty() -> None:
    """10 of 10 promoters: +100 with a zero-width interval; all detractors: -100; none: None."""
    assert (nps_score(10, 0, 10), approx(nps_interval(10, 0, 10))) == (100.0, (100.0, 100.0))
    assert (nps_score(0, 10, 10), approx(nps_interval(0, 10, 10))) == (-100.0, (-100.0, -100.0))
    assert (nps_score(0, 0, 0), nps_interval(0, 0, 0)) == (None, None)


def test_nps_trinomial_interval() -> None:
    """5 promoters, 3 passives, 2 detractors: NPS 30, var = (.5+.2-.3²)/10 = .061,
    half-width 100·1.95996·√.061 = 48.4075."""
    assert (nps_score(5, 2, 10), approx(nps_interval(5, 2, 10))) == (30.0, (-18.4075, 78.4075))


def test_wilson_at_zero_and_at_n() -> None:
    """0 of 10: [0, z²/(n+z²)] = [0, 27.7533 %]; 10 of 10: [n/(n+z²), 1] = [72.2467 %, 100]."""
    assert approx(wilson_interval(0, 10)) == (0.0, 27.7533)
    assert approx(wilson_interval(10, 10)) == (72.2467, 100.0)
    assert wilson_interval(0, 0) is None


def test_wilson_midpoint() -> None:
    """8 of 10: the textbook Wilson interval [49.0162 %, 94.3318 %]."""
    assert approx(wilson_interval(8, 10)) == (49.0162, 94.3318)


def test_csat_and_ces_scores() -> None:
    """CSAT: share of 'satisfied'; CES: mean with a normal interval, None below 2 answers."""
    csat = Tally()
    for score, rank in ((5, 2), (4, 2), (2, 0), (1, 0)):
        csat.add(score, rank)
    assert score_of("csat", csat)[0] == 50.0
    assert shares_of("csat", csat) == {"unsatisfied": 50.0, "satisfied": 50.0}
    ces = Tally()
    for score in (7, 5, 3):
        ces.add(score, 2 if score >= 5 else 0)
    mean, interval = score_of("ces", ces)
    assert (mean, approx(interval)) == (5.0, approx((5 - 1.959963984540054 * 2 / math.sqrt(3),
                                                      5 + 1.959963984540054 * 2 / math.sqrt(3))))
    assert mean_interval(1, 5, 25) is None


@pytest.mark.parametrize("survey", ["nps", "csat", "ces"])
def test_empty_tally_has_no_figures(survey: str) -> None:
    """No answer: no score, no interval, no shares (never a ZeroDivisionError)."""
    assert (score_of(survey, Tally()), shares_of(survey, Tally())) == ((None, None), {})
