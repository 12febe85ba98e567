"""Assign dictionary themes to one comment: deterministic, local, a few microseconds a word.

Each dictionary entry becomes a sequence of word patterns (a stem, or a folded prefix,
suffix or infix for entries with `*`). A comment is tokenised once per language; each
distinct word is checked against every pattern of that language once and the answer is
cached, so a million comments cost little more than their vocabulary. Phrases match words
in order with at most MAX_GAP stop words between them. A stem of FUZZY_MIN letters or more
also matches with one letter missing, one too many or two letters swapped ("refnud"), never
with one letter replaced by another (that would make "contento" a "contestar"). A longer
phrase of one theme hides a shorter match of another inside it ("call back" is follow-up,
not a phone call).

The comment's language is the one with the most evidence: its stop words and negation
cues, and its dictionary matches, plus one for the survey's own language, which also wins
ties (a cognate such as "expérience" must not turn a French comment English). So "Fast
delivery!" from a Norwegian customer is read as English, and "Schnell" with no other clue
is read in the survey's language.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from closedloop.daemon.insight.themes.dictionary import Theme, fingerprint
from closedloop.daemon.insight.themes.text import (
    LANGUAGES,
    Token,
    fold,
    language_of,
    lexicon,
    stem,
    stop_hits,
    tokenize,
    words,
)

MAX_GAP = 2  # stop words allowed between two words of a phrase
FUZZY_MIN = 6  # letters a stem needs for one-typo matching (both sides)
TERM_WEIGHT = 1.0  # evidence of a dictionary match for the language, as a stop word's
HINT_WEIGHT = 1.0  # evidence the survey's language gets for free (and it wins ties)
_CACHE_MAX = 200_000  # distinct (language, word) pairs remembered


@dataclass(frozen=True)
class Pattern:
    """One word of an entry: `kind` stem | prefix | suffix | infix."""

    kind: str
    value: str


@dataclass(frozen=True)
class Term:
    theme: int  # index into the dictionary
    patterns: tuple[int, ...]  # pattern ids, in order
    negated: bool  # the entry starts with a negation cue: its first word must be negated


@dataclass(frozen=True)
class Mention:
    """Where a theme was found: token positions [start, end) in the tokenised comment."""

    theme: str
    start: int
    end: int
    entry: str


@dataclass
class _Language:
    patterns: list[Pattern] = field(default_factory=list)
    ids: dict[Pattern, int] = field(default_factory=dict)
    by_first: dict[int, list[tuple[Term, str]]] = field(default_factory=lambda: defaultdict(list))
    stems: dict[str, int] = field(default_factory=dict)
    prefixes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    suffixes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    infixes: list[int] = field(default_factory=list)
    near: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    cache: dict[tuple[str, bool], tuple[int, ...]] = field(default_factory=dict)

    def pattern_id(self, pattern: Pattern) -> int:
        if pattern not in self.ids:
            self.ids[pattern] = len(self.patterns)
            self.patterns.append(pattern)
            if pattern.kind == "stem":
                self.stems[pattern.value] = self.ids[pattern]
                if len(pattern.value) >= FUZZY_MIN:
                    for variant in _deletions(pattern.value):
                        self.near[variant].add(self.ids[pattern])
            elif pattern.kind == "prefix":
                self.prefixes[pattern.value].append(self.ids[pattern])
            elif pattern.kind == "suffix":
                self.suffixes[pattern.value].append(self.ids[pattern])
            else:
                self.infixes.append(self.ids[pattern])
        return self.ids[pattern]


class ThemeMatcher:
    """The compiled dictionary. `assign(comment, language)` -> theme names, dictionary order."""

    def __init__(self, themes: Sequence[Theme]) -> None:
        self.themes = tuple(themes)
        self.names = tuple(t.name for t in self.themes)
        self.fingerprint = fingerprint(self.themes)
        self._langs = {lang: self._compile(lang) for lang in LANGUAGES}

    def _compile(self, language: str) -> _Language:
        lex = lexicon(language)
        index = _Language()
        for number, theme in enumerate(self.themes):
            for entry in theme.terms.get(language, ()):
                parts = entry_words(entry)
                negated = len(parts) > 1 and parts[0] in lex.negation
                if negated:
                    parts = parts[1:]
                if not parts:
                    continue
                ids = tuple(index.pattern_id(_pattern(language, p)) for p in parts)
                index.by_first[ids[0]].append((Term(number, ids, negated), entry))
        return index

    def assign(self, comment: str | None, language: str | None = None) -> tuple[str, ...]:
        """The themes of one comment, in dictionary order; () for none or no comment."""
        return self.explain(comment, language)[1]

    def explain(self, comment: str | None, language: str | None = None
                ) -> tuple[str, tuple[str, ...], list[Mention]]:
        """(language read, themes, mentions): what `assign` decided and why."""
        hint = language_of(language) or "en"
        if not comment or not comment.strip():
            return hint, (), []
        pieces = words(comment)
        evidence = {lang: float(n) for lang, n in stop_hits(comment, pieces).items()}
        found: dict[str, list[Mention]] = {}
        for lang in LANGUAGES:
            found[lang] = self.mentions(comment, lang, pieces)
            evidence[lang] += TERM_WEIGHT * len(found[lang])
        evidence[hint] += HINT_WEIGHT
        best = max(LANGUAGES, key=lambda lang: (evidence[lang], lang == hint))
        seen = {m.theme for m in found[best]}
        return best, tuple(n for n in self.names if n in seen), found[best]

    def mentions(self, comment: str, language: str,
                 pieces: list[str] | None = None) -> list[Mention]:
        """Every theme mention in the comment read as `language`, overlaps resolved."""
        index = self._langs[language]
        tokens = tokenize(comment, language, pieces)
        hits = [self._hits(index, language, tok) for tok in tokens]
        raw: list[Mention] = []
        for start, token_hits in enumerate(hits):
            for pid in token_hits:
                for term, entry in index.by_first.get(pid, ()):
                    if term.negated and not tokens[start].negated:
                        continue
                    end = _match_rest(term.patterns, tokens, hits, start)
                    if end is not None:
                        raw.append(Mention(self.names[term.theme], start, end, entry))
        return _resolve(raw)

    def _hits(self, index: _Language, language: str, token: Token) -> tuple[int, ...]:
        """The pattern ids a word matches, in id order (cached per distinct word)."""
        key = (token.folded, token.stop)
        cached = index.cache.get(key)
        if cached is not None:
            return cached
        out: set[int] = set()
        if (pid := index.stems.get(token.stem)) is not None:
            out.add(pid)
        word = token.folded
        for end in range(1, len(word) + 1):  # every prefix and suffix: dict look-ups
            out.update(index.prefixes.get(word[:end], ()))
            out.update(index.suffixes.get(word[-end:], ()))
        out.update(pid for pid in index.infixes if index.patterns[pid].value in word)
        if not token.stop and not out and len(token.stem) >= FUZZY_MIN - 1:
            out.update(index.near.get(token.stem, ()))  # a letter missing
            if len(token.stem) >= FUZZY_MIN:
                for variant in (*_deletions(token.stem), *_swaps(token.stem)):
                    if (pid := index.stems.get(variant)) is not None \
                            and len(variant) >= FUZZY_MIN:
                        out.add(pid)  # a letter too many, or two swapped
        result = tuple(sorted(out))
        if len(index.cache) < _CACHE_MAX:
            index.cache[key] = result
        return result


def entry_words(entry: str) -> list[str]:
    """A dictionary entry's folded words, keeping `*` at either end of a word:
    "délai de livr*" -> ["delai", "de", "livr*"], "casse-tête" -> ["casse", "tete"]."""
    out: list[str] = []
    for chunk in fold(entry).split():
        parts = [w for w in words(chunk.strip("*")) if w != "."]
        if not parts:
            continue
        if chunk.startswith("*"):
            parts[0] = "*" + parts[0]
        if chunk.endswith("*"):
            parts[-1] += "*"
        out += parts
    return out


def _pattern(language: str, word: str) -> Pattern:
    if word.startswith("*") and word.endswith("*") and len(word) > 2:
        return Pattern("infix", word.strip("*"))
    if word.endswith("*") and len(word) > 1:
        return Pattern("prefix", word.rstrip("*"))
    if word.startswith("*") and len(word) > 1:
        return Pattern("suffix", word.lstrip("*"))
    return Pattern("stem", stem(language, word))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _swaps(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}


def _match_rest(patterns: tuple[int, ...], tokens: list[Token], hits: list[tuple[int, ...]],
                start: int) -> int | None:
    """The end of the phrase starting at `start`, or None: each next word within MAX_GAP
    stop words of the previous one."""
    at = start
    for pid in patterns[1:]:
        nxt = at + 1
        while nxt < len(tokens) and pid not in hits[nxt] and tokens[nxt].stop \
                and nxt - at <= MAX_GAP:
            nxt += 1
        if nxt >= len(tokens) or pid not in hits[nxt] \
                or tokens[nxt].sentence != tokens[at].sentence:
            return None
        at = nxt
    return at + 1


def _resolve(mentions: list[Mention]) -> list[Mention]:
    """Drop a mention lying inside a longer one of another theme; order by position."""
    kept = [m for m in mentions
            if not any(o.theme != m.theme and o.end - o.start > m.end - m.start
                       and o.start <= m.start and m.end <= o.end for o in mentions)]
    return sorted(set(kept), key=lambda m: (m.start, m.end, m.theme, m.entry))
