"""`[themes]`: the theme dictionary in force and the CRM property that gets a comment's themes.

    [themes]
    defaults = true                      # keep the built-in themes (false: only yours)
    property = "cl_feedback_last_themes" # optional: contact property / Zendesk user field
    [themes.delivery]                    # a built-in: each language given replaces its list
    en = ["delivery", "shipping", "courier"]
    [themes.warranty]                    # a new theme
    label = "Warranty"
    en = ["warranty", "guarantee"]
    de = ["garantie", "gewährleistung"]

Every other key of `[themes]` is a theme; its keys are the five languages, `label` and
`enabled` (false drops a built-in). A misspelt language or an empty list is an error that
names the key, found when the config loads rather than as a theme that never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from closedloop.daemon.insight.themes.dictionary import Theme, default_themes, merge_themes
from closedloop.daemon.insight.themes.matcher import ThemeMatcher, entry_words
from closedloop.daemon.insight.themes.text import LANGUAGES

THEME_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_OWN_KEYS = ("defaults", "property")
_THEME_KEYS = ("label", "enabled", *LANGUAGES)
MAX_ENTRY = 100  # characters of one synonym


class ThemeEntry(BaseModel):
    """One `[themes.<name>]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str | None = Field(default=None, min_length=1, max_length=80)
    enabled: bool = True
    en: tuple[str, ...] | None = None
    fr: tuple[str, ...] | None = None
    nb: tuple[str, ...] | None = None
    de: tuple[str, ...] | None = None
    es: tuple[str, ...] | None = None

    def terms(self) -> dict[str, tuple[str, ...]]:
        return {lang: words for lang in LANGUAGES if (words := getattr(self, lang))}


class ThemeSettings(BaseModel):
    """The `[themes]` table: built-ins on or off, the CRM property, the user's themes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: bool = True
    property: str | None = None
    themes: dict[str, ThemeEntry] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        """Keys other than defaults and property are themes: check them here, so that each
        problem names the key as the file spells it (themes: delivery.dk)."""
        if not isinstance(data, Mapping):
            return data
        own = {k: v for k, v in data.items() if k in _OWN_KEYS}
        problems: list[str] = []
        prop = own.get("property")
        if prop is not None and not (isinstance(prop, str) and PROPERTY_NAME.match(prop)):
            problems.append(f"property: expected a property name such as "
                            f"cl_feedback_last_themes (lower-case letters, digits and '_'), "
                            f"got {prop!r}")
        themes: dict[str, Any] = {}
        for name, table in data.items():
            if name in _OWN_KEYS:
                continue
            problems += _theme_problems(name, table)
            themes[name] = table
        if problems:
            raise ValueError("; ".join(problems))
        return {**own, "themes": themes}

    @model_validator(mode="after")
    def _something_left(self) -> ThemeSettings:
        if not self.dictionary():
            raise ValueError("no theme is left: defaults = false and no [themes.<name>] "
                             "table with synonyms (or every theme has enabled = false)")
        return self

    def dictionary(self) -> tuple[Theme, ...]:
        """The themes in force: built-ins (unless defaults = false) merged with the config's."""
        own = [Theme(name=name, label=entry.label or "", terms=entry.terms())
               for name, entry in self.themes.items()]
        merged = merge_themes(default_themes(), own, keep_defaults=self.defaults)
        off = {name for name, entry in self.themes.items() if not entry.enabled}
        return tuple(Theme(name=t.name, label=t.label or t.name.replace("_", " ").capitalize(),
                           terms=t.terms)
                     for t in merged if t.name not in off and any(t.terms.values()))

    def matcher(self) -> ThemeMatcher:
        return ThemeMatcher(self.dictionary())


def _theme_problems(name: str, table: Any) -> list[str]:
    where = name  # the line already starts "themes: "
    if not THEME_NAME.match(name):
        return [f"{where}: a theme name is lower-case letters, digits and '_' (max 40), "
                f"starting with a letter, such as delivery or wait_time"]
    if not isinstance(table, Mapping):
        return [f"{where}: expected a table of synonyms per language such as "
                f"[themes.{name}] en = [\"...\"]"]
    problems: list[str] = []
    for key, value in table.items():
        if key not in _THEME_KEYS:
            problems.append(f"{where}.{key}: unknown key; expected a language "
                            f"({', '.join(LANGUAGES)}), label or enabled")
        elif key in LANGUAGES:
            problems += _synonym_problems(f"{where}.{key}", value)
    return problems


def _synonym_problems(where: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return [f"{where}: expected a list of words or phrases, got {value!r}"]
    if not value:
        return [f"{where}: the list of synonyms is empty; leave the key out to keep the "
                "built-in list of this language"]
    for item in value:
        if not isinstance(item, str) or not item.strip():
            return [f"{where}: every synonym is a non-empty string, got {item!r}"]
        if len(item) > MAX_ENTRY:
            return [f"{where}: a synonym is at most {MAX_ENTRY} characters"]
        if not entry_words(item) or any(w.strip("*") == "" for w in entry_words(item)):
            return [f"{where}: {item!r} has no word to match"]
    return []
