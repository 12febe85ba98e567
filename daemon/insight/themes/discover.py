"""Recurring themes the dictionary does not know yet: frequent words and word pairs.

Reads the most recent `sample` comments of the period (after the filters), in the language
each was read in; leaves out stop words, numbers, short words, generic words ("great",
"service") and every word a dictionary theme already matched; and counts in how many
comments each stem and each pair of neighbouring stems occurs. A negated word is its own
candidate ("not helpful" is not "helpful"). A pair that accounts for most uses of its words
replaces them. Each candidate is named by its most common spelling, so an admin can add it
to `[themes]` as it is.
Counts are over the sample, not the whole period: the report says how many were read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from closedloop.daemon.insight.themes.matcher import ThemeMatcher
from closedloop.daemon.insight.themes.report import (
    LOW_CATEGORIES,
    RESPONSES,
    SENDS,
    ThemeRow,
    scope_filter,
)
from closedloop.daemon.insight.themes.text import Token, lexicon, tokenize
from closedloop.daemon.store import Store
from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import to_db

SAMPLE = 2000
MIN_COUNT = 3  # comments a candidate needs
MIN_LETTERS = 3
PAIR_SHARE = 0.6  # a pair this common among its word's uses replaces the word


@dataclass
class _Tally:
    comments: int = 0
    low: int = 0
    spellings: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Discovery:
    """Candidate themes and how many comments they were counted in."""

    rows: list[ThemeRow]
    sample: int


def discover_themes(store: Store, matcher: ThemeMatcher, *, since: datetime, until: datetime,
                    programs: Sequence[str] | None = None,
                    scope: Mapping[str, Sequence[str]] | None = None, limit: int = 10,
                    sample: int = SAMPLE, min_count: int = MIN_COUNT) -> Discovery:
    """The `limit` most frequent candidates in the period's latest `sample` comments."""
    conditions = scope_filter(scope, programs)
    query = (select(RESPONSES.c.comment, RESPONSES.c.category, SENDS.c.language)
             .select_from(RESPONSES.join(SENDS, SENDS.c.id == RESPONSES.c.send_id))
             .where(RESPONSES.c.comment.is_not(None), RESPONSES.c.comment != "",
                    RESPONSES.c.answered_at >= to_db(since),
                    RESPONSES.c.answered_at < to_db(until), *conditions)
             .order_by(RESPONSES.c.answered_at.desc(), RESPONSES.c.id.desc())
             .limit(sample))
    with reading(store.engine) as conn:
        rows = conn.execute(query).all()
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    low_total = 0
    for comment, category, language in rows:
        low = category in LOW_CATEGORIES
        low_total += low
        for key, spelling in _candidates(matcher, comment, language).items():
            tally = tallies[key]
            tally.comments += 1
            tally.low += low
            tally.spellings[spelling] += 1
    chosen = _choose(tallies, min_count)
    base_low = low_total / len(rows) if rows else None
    out = []
    for key in chosen[:max(limit, 0)]:
        tally = tallies[key]
        low_share = tally.low / tally.comments
        name = min(tally.spellings.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        out.append(ThemeRow(
            theme=name, label=name, count=tally.comments, share=tally.comments / len(rows),
            low=tally.low, low_share=low_share,
            lift=low_share / base_low if base_low else None, previous_count=None,
            previous_share=None, base=len(rows), base_low_share=base_low, discovered=True))
    return Discovery(rows=out, sample=len(rows))


def _candidates(matcher: ThemeMatcher, comment: str, language: str | None) -> dict[str, str]:
    """Candidate key -> spelling, for one comment (each key once)."""
    read_as, _, mentions = matcher.explain(comment, language)
    covered = {i for m in mentions for i in range(m.start, m.end)}
    tokens = tokenize(comment, read_as)
    generic = lexicon(read_as).generic
    out: dict[str, str] = {}
    content: list[tuple[int, Token, str]] = []  # position, token, negation cue before it
    cue = ""
    for i, token in enumerate(tokens):
        if token.negation:
            cue = token.surface.lower()
            continue
        if token.stop:
            continue
        if i in covered or len(token.folded) < MIN_LETTERS or token.folded.isdigit() \
                or token.folded in generic:
            content.append((i, token, ""))  # breaks pairs, counts nothing
            covered.add(i)
            continue
        content.append((i, token, cue if token.negated else ""))
    for number, (i, token, negation) in enumerate(content):
        if i in covered or len(token.folded) < MIN_LETTERS or token.folded.isdigit():
            continue
        key = f"{read_as}:{'not ' if negation else ''}{token.stem}"
        out.setdefault(key, f"{negation} {token.surface.lower()}".strip())
        if number + 1 < len(content):
            j, nxt, _ = content[number + 1]
            if j in covered or len(nxt.folded) < MIN_LETTERS or nxt.folded.isdigit():
                continue
            out.setdefault(f"{key} {nxt.stem}",
                           f"{negation} {token.surface.lower()} {nxt.surface.lower()}".strip())
    return out


def _choose(tallies: Mapping[str, _Tally], min_count: int) -> list[str]:
    """Frequent keys, most frequent first; a word is dropped for a pair that explains it."""
    frequent = {k: t for k, t in tallies.items() if t.comments >= max(min_count, 1)}
    pairs = [k for k in frequent if " " in k.split(":", 1)[1].removeprefix("not ")]
    hidden: set[str] = set()
    for pair in pairs:
        lang, words = pair.split(":", 1)
        negated = words.startswith("not ")
        first, second = words.removeprefix("not ").split(" ", 1)
        for word in (f"{'not ' if negated else ''}{first}", second):
            single = f"{lang}:{word}"
            if single in frequent and frequent[pair].comments >= \
                    PAIR_SHARE * frequent[single].comments:
                hidden.add(single)
    return sorted((k for k in frequent if k not in hidden),
                  key=lambda k: (-frequent[k].comments, k))
