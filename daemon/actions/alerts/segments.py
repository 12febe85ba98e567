"""Which segment an answer belongs to: one small lookup the next attribution can extend.

A segment key names a column of the survey's send (insight.segments.SEGMENT_KEYS, the attribution at
close time). Zendesk says brand and group where HubSpot says pipeline and team: both work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from closedloop.daemon.insight.segments import SEGMENT_KEYS
from closedloop.daemon.store import AnswerRow

__all__ = ["ALL", "SEGMENT_KEYS", "column_filters", "in_segments", "segment_column",
           "segment_value"]
ALL = "all"  # the one segment of a rule without segment_by


def segment_column(key: str | None) -> str | None:
    """The sends column a segment key reads; None (all answers together) for no key."""
    return SEGMENT_KEYS[key] if key else None


def segment_value(answer: AnswerRow, key: str | None) -> str:
    """The answer's segment under `key` ("" when the send has no value there)."""
    if not key:
        return ALL
    return answer.fields.get(SEGMENT_KEYS[key]) or ""


def column_filters(segment: Mapping[Any, Sequence[str]]) -> dict[str, list[str]]:
    """A rule's `segment = {team = ["7"]}` filter as sends columns -> allowed values."""
    out: dict[str, list[str]] = {}
    for key, values in segment.items():
        out.setdefault(SEGMENT_KEYS[key], []).extend(values)
    return out


def in_segments(answer: AnswerRow, segment: Mapping[Any, Sequence[str]]) -> bool:
    """True when the answer passes every key of the rule's segment filter."""
    return all(answer.fields.get(column) in values
               for column, values in column_filters(segment).items())
