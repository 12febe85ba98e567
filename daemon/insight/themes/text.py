"""Comment text as tokens: folded, stemmed, stop words and negations marked, language told.

Everything here is deterministic and local: the Snowball stemmers of `snowballstemmer`
(pure Python, BSD) and the word lists in data/languages.toml. Words are lower-cased and
accent-folded *before* stemming, so a comment typed without accents ("livre", "ruckerstattung")
meets the dictionary's accented entry ("livré", "Rückerstattung") at the same stem.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import snowballstemmer

LANGUAGES = ("en", "fr", "nb", "de", "es")
_SNOWBALL = {"en": "english", "fr": "french", "nb": "norwegian", "de": "german",
             "es": "spanish"}
# Language codes a CRM may give for these (Norwegian: "no", "nn"; regional variants).
_ALIASES = {"no": "nb", "nn": "nb", "nob": "nb", "nno": "nb"}
# How far back a negation cue reaches, in words, within one clause.
NEGATION_REACH = 3
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[.,;:!?()\"«»\n]+")
_BREAK = re.compile(r"^[.,;:!?()\"«»\n]+$")
_SPECIAL = str.maketrans({"ø": "o", "æ": "ae", "ß": "ss", "œ": "oe", "đ": "d", "ł": "l"})


@dataclass(frozen=True)
class Lexicon:
    """One language's word lists (accent-folded)."""

    stop: frozenset[str]
    negation: frozenset[str]
    clause: frozenset[str]
    generic: frozenset[str] = frozenset()  # how good, not what about: never discovered


@dataclass(frozen=True)
class Token:
    """One word of a comment: `folded` surface, `stem`, and what kind of word it is."""

    surface: str
    folded: str
    stem: str
    stop: bool
    negation: bool
    negated: bool  # a negation cue came shortly before, in the same clause
    sentence: int = 0  # punctuation between two tokens: a phrase never spans it


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Lower-case, without accents: "Rückerstattung" -> "ruckerstattung", "Ø" -> "o"."""
    lowered = text.lower().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def language_of(code: str | None) -> str | None:
    """One of LANGUAGES for a CRM's language code ("nb-NO", "no", "fr_CA"), else None."""
    if not code:
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    base = _ALIASES.get(base, base)
    return base if base in LANGUAGES else None


@cache
def lexicon(language: str) -> Lexicon:
    """The packaged word lists of one language; negation cues are never stop words."""
    data = tomllib.loads(resources.files(__package__).joinpath("data/languages.toml")
                         .read_text(encoding="utf-8"))[language]
    negation = frozenset(fold(w) for w in data["negation"])
    clause = frozenset(fold(w) for w in data["clause"] if " " not in w)
    stop = frozenset(fold(w) for w in data["stop"]) - negation
    return Lexicon(stop=stop, negation=negation, clause=clause,
                   generic=frozenset(fold(w) for w in data.get("generic", ())))


@cache
def _stemmer(language: str) -> Any:
    return snowballstemmer.stemmer(_SNOWBALL[language])


@cache
def stem(language: str, folded: str) -> str:
    """The Snowball stem of an already folded word (cached: comments reuse few words)."""
    return fold(_stemmer(language).stemWord(folded))


def words(text: str) -> list[str]:
    """Words and clause breaks ("."), in order; "didn't" -> did, not; "l'attente" -> l, attente;
    a hyphenated compound stays one word ("e-post", "casse-tête")."""
    out: list[str] = []
    for piece in _WORD.findall(text):
        if _BREAK.match(piece):
            out.append(".")
            continue
        parts = re.split(r"['’]", piece)
        if len(parts) == 2 and parts[0].lower().endswith("n") and parts[1].lower() == "t":
            out += [parts[0][:-1] or "not", "not"]  # English n't
            continue
        out += [p for p in parts if p]
    return out


def tokenize(text: str, language: str, pieces: list[str] | None = None) -> list[Token]:
    """The comment as tokens of one language; clause breaks are dropped after use.
    `pieces` is `words(text)` when the caller already has it (one split, five languages)."""
    lex = lexicon(language)
    tokens: list[Token] = []
    since_negation: int | None = None  # words since the last negation cue in this clause
    sentence = 0
    for word in words(text) if pieces is None else pieces:
        folded = fold(word)
        if word == "." or folded in lex.clause:
            since_negation = None
            if word == ".":
                sentence += 1
                continue
        negation = folded in lex.negation
        negated = since_negation is not None and since_negation < NEGATION_REACH
        tokens.append(Token(surface=word, folded=folded, stem=stem(language, folded),
                            stop=folded in lex.stop, negation=negation, negated=negated,
                            sentence=sentence))
        if negation:
            since_negation = 0
        elif since_negation is not None and not tokens[-1].stop:
            since_negation += 1
    return tokens


def stop_hits(text: str, pieces: list[str] | None = None) -> dict[str, int]:
    """How many words of the text are stop words or negation cues, per language."""
    folded = [fold(w) for w in (words(text) if pieces is None else pieces) if w != "."]
    return {lang: sum(1 for w in folded if w in lexicon(lang).stop or w in lexicon(lang).negation)
            for lang in LANGUAGES}
