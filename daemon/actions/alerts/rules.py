"""What makes a rule fire: per-answer matching and rolling figures per segment.

Pure functions of rows (or store queries) and a clock, so tests pin each edge under
time-machine. Thresholds compare strictly: a CSAT share *below* 75 % fires at 74.9 %, not at
75 %; an NPS *down* 10 points fires at a drop of 10, not 9.9; a segment with fewer answers
than `min_sample` neither fires nor recovers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from closedloop.daemon.actions.alerts.segments import (
    column_filters,
    in_segments,
    segment_column,
)
from closedloop.daemon.actions.alerts.settings import MAX_COMMENT, AlertSettings
from closedloop.daemon.store import AnswerRow, Store


@cache
def _words(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w.strip()) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def comment_matches(rule: AlertSettings, comment: str | None) -> bool:
    """Words (whole words, any case) or the regex, on the first MAX_COMMENT characters."""
    if not rule.comment_words and not rule.comment_regex:
        return True
    text = (comment or "")[:MAX_COMMENT]
    if not text:
        return False
    if rule.comment_words and _words(rule.comment_words).search(text):
        return True
    return bool(rule.comment_regex and _regex(rule.comment_regex).search(text))


def answer_matches(rule: AlertSettings, answer: AnswerRow) -> bool:
    """Does this answer fire a kind = "answer" rule?"""
    if rule.programs and answer.program not in rule.programs:
        return False
    if rule.categories and answer.category not in rule.categories:
        return False
    if rule.score_min is not None and answer.score < rule.score_min:
        return False
    if rule.score_max is not None and answer.score > rule.score_max:
        return False
    return in_segments(answer, rule.segment) and comment_matches(rule, answer.comment)


@dataclass(frozen=True)
class Verdict:
    """One segment's figure: `breached` None when the sample is too small to say."""

    segment: str
    breached: bool | None
    value: float | None
    sample: int
    previous: float | None = None  # nps_drop: the period before


def rolling_verdicts(rule: AlertSettings, store: Store, now: datetime) -> list[Verdict]:
    """The rule's figure for every segment with data in its window, ending at `now`."""
    column = segment_column(rule.segment_by)
    where = column_filters(rule.segment)
    programs = rule.programs
    small = rule.min_sample
    threshold = rule.threshold if rule.threshold is not None else 0.0
    verdicts: list[Verdict] = []
    if rule.kind == "csat_share":
        start = now - rule.window if rule.window is not None else None
        figures = store.answer_figures(column, programs, "csat", start, now, rule.last, where)
        for segment, (answers, good, _) in sorted(figures.items()):
            share = 100.0 * good / answers
            verdicts.append(Verdict(segment, None if answers < small else share < threshold,
                                    round(share, 1), answers))
    elif rule.kind == "nps_drop":
        assert rule.window is not None  # validated
        now_f = store.answer_figures(column, programs, "nps", now - rule.window, now,
                                     where=where)
        before = store.answer_figures(column, programs, "nps", now - 2 * rule.window,
                                      now - rule.window, where=where, through=False)
        for segment in sorted(set(now_f) | set(before)):
            cur, prev = now_f.get(segment, (0, 0, 0)), before.get(segment, (0, 0, 0))
            if min(cur[0], prev[0]) < small:
                verdicts.append(Verdict(segment, None, _nps(cur), cur[0], _nps(prev)))
                continue
            score, earlier = _nps(cur), _nps(prev)
            assert score is not None
            assert earlier is not None
            verdicts.append(Verdict(segment, earlier - score >= threshold, score, cur[0],
                                    earlier))
    elif rule.kind == "response_rate":
        assert rule.window is not None
        sends = store.send_figures(column, programs, now - rule.window, now, where)
        for segment, (sent, answered) in sorted(sends.items()):
            rate = 100.0 * answered / sent
            verdicts.append(Verdict(segment, None if sent < small else rate < threshold,
                                    round(rate, 1), sent))
    elif rule.kind == "no_answers":
        assert rule.window is not None
        sent_by = store.send_figures(column, programs, now - rule.window, now, where)
        answered_by = store.answered_segments(column, programs, now - rule.window, now, where)
        for segment, (sent, _) in sorted(sent_by.items()):
            count = answered_by.get(segment, 0)
            verdicts.append(Verdict(segment, None if sent < small else count == 0,
                                    float(count), sent))
    return verdicts


def _nps(figures: tuple[int, int, int]) -> float | None:
    answers, promoters, detractors = figures
    return round(100.0 * (promoters - detractors) / answers, 1) if answers else None
