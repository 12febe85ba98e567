"""The theme dictionary: each theme's name, label and synonyms per language.

The built-in dictionary (data/themes.toml) pins a dozen themes a support team hears about
across en, fr, nb, de and es (delivery = livraison = levering = Lieferung = entrega); the
config's `[themes]` adds themes, replaces a language's synonyms of one, or turns the
built-ins off. The result is plain data: matcher.py compiles it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from closedloop.daemon.insight.themes.text import LANGUAGES


@dataclass(frozen=True)
class Theme:
    """One theme: `name` is what reports and the CRM property say; terms per language."""

    name: str
    label: str
    terms: Mapping[str, tuple[str, ...]]


@cache
def default_themes() -> tuple[Theme, ...]:
    """The packaged dictionary, in its file's order (the order reports break ties in)."""
    raw = tomllib.loads(resources.files(__package__).joinpath("data/themes.toml")
                        .read_text(encoding="utf-8"))
    return tuple(Theme(name=name, label=str(table.get("label", name)),
                       terms={lang: tuple(table.get(lang, ())) for lang in LANGUAGES})
                 for name, table in raw.items())


def merge_themes(defaults: Sequence[Theme], overrides: Sequence[Theme],
                 keep_defaults: bool = True) -> tuple[Theme, ...]:
    """The dictionary in force: built-ins (unless turned off), each language an override
    gives replacing the built-in list of that language, then new themes in config order."""
    by_name = {t.name: t for t in overrides}
    out: list[Theme] = []
    if keep_defaults:
        for theme in defaults:
            own = by_name.pop(theme.name, None)
            if own is None:
                out.append(theme)
                continue
            terms = {lang: own.terms.get(lang) or theme.terms.get(lang, ())
                     for lang in LANGUAGES}
            out.append(Theme(name=theme.name, label=own.label or theme.label, terms=terms))
    out += [t for t in overrides if t.name in by_name]
    return tuple(out)


def fingerprint(themes: Sequence[Theme]) -> str:
    """A short hash of the dictionary: stored assignments made under another one are redone."""
    data = [[t.name, {lang: list(t.terms.get(lang, ())) for lang in LANGUAGES}]
            for t in themes]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
