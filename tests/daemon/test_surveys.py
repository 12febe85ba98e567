"""Scoring: scales, categories and aggregate scores for CSAT, CES and NPS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedloop.daemon.surveys import (
    CATEGORIES,
    SCALES,
    Program,
    SurveyType,
    category,
    ces,
    csat,
    nps,
)

nps_scores = st.lists(st.integers(0, 10), min_size=1, max_size=200)
csat_scores = st.lists(st.integers(1, 5), min_size=1, max_size=200)
ces_scores = st.lists(st.integers(1, 7), min_size=1, max_size=200)


@given(nps_scores)
def test_nps_is_promoters_minus_detractors(scores: list[int]) -> None:
    """NPS = %(9–10) − %(0–6), always within −100..100."""
    expected = 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)
    result = nps(scores)
    assert result == pytest.approx(expected)
    assert result is not None
    assert -100 <= result <= 100


@given(nps_scores)
def test_nps_extremes_and_passives(scores: list[int]) -> None:
    """Adding passives moves NPS toward 0; all promoters is 100, all detractors −100."""
    assert nps([10] * len(scores)) == 100
    assert nps([0] * len(scores)) == -100
    before = nps(scores)
    after = nps([*scores, 7, 8])
    assert before is not None
    assert after is not None
    assert abs(after) <= abs(before)


@given(csat_scores, st.integers(1, 5))
def test_csat_counts_answers_at_or_above_threshold(scores: list[int], threshold: int) -> None:
    """CSAT = share of answers ≥ threshold, 0..100; a lower threshold never lowers it."""
    result = csat(scores, threshold)
    assert result == pytest.approx(100 * sum(s >= threshold for s in scores) / len(scores))
    lower = csat(scores, max(1, threshold - 1))
    assert result is not None
    assert lower is not None
    assert lower >= result


@given(ces_scores)
def test_ces_is_the_mean_within_the_scale(scores: list[int]) -> None:
    """CES is the mean answer, bounded by the 1..7 scale."""
    result = ces(scores)
    assert result == pytest.approx(sum(scores) / len(scores))
    assert result is not None
    assert 1 <= result <= 7


def test_no_answers_means_no_score() -> None:
    """An empty period has no score rather than a misleading 0."""
    assert (nps([]), csat([]), ces([])) == (None, None, None)


@given(st.sampled_from(list(SurveyType)), st.data())
def test_every_score_on_the_scale_has_a_known_category(survey: SurveyType,
                                                       data: st.DataObject) -> None:
    """Each point of each scale maps to one of that survey's categories."""
    scale = SCALES[survey]
    score = data.draw(st.integers(scale.low, scale.high))
    assert category(survey, score) in CATEGORIES[survey]


def test_category_boundaries() -> None:
    """The standard boundaries: NPS 6/7 and 8/9, CSAT at the threshold, CES 3/4/5."""
    assert [category(SurveyType.NPS, s) for s in (6, 7, 8, 9)] == [
        "detractor", "passive", "passive", "promoter"]
    assert [category(SurveyType.CSAT, s) for s in (3, 4)] == ["unsatisfied", "satisfied"]
    assert category(SurveyType.CSAT, 4, threshold=5) == "unsatisfied"
    assert [category(SurveyType.CES, s) for s in (3, 4, 5)] == ["difficult", "neutral", "easy"]


@given(st.sampled_from(list(SurveyType)), st.integers(-50, 50))
def test_scores_off_the_scale_are_refused(survey: SurveyType, score: int) -> None:
    """A score outside the scale is an error, never silently categorized."""
    scale = SCALES[survey]
    if scale.low <= score <= scale.high:
        assert category(survey, score) in CATEGORIES[survey]
    else:
        with pytest.raises(ValueError, match="outside"):
            category(survey, score)


def test_program_trigger_filters() -> None:
    """Empty filters match every closed ticket; set ones match only their pipelines/stages."""
    anything = Program("a", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")
    billing = Program("b", SurveyType.CES, "hubspot", timedelta(hours=2), "Acme",
                      pipelines=("5",), stages=("7",))
    assert anything.matches("0", "4")
    assert anything.matches(None, None)
    assert billing.matches("5", "7")
    assert not billing.matches("5", "8")
    assert not billing.matches("0", "7")
