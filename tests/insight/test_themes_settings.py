"""`[themes]` in the config: built-ins kept, replaced per language, turned off, new themes
added; every mistake is one line naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError

BASE: dict[str, Any] = {
    "sources": {"hubspot": {"crm": "hubspot"}}, "mail": {"from_address": "a@acme.example"},
    "programs": [{"name": "csat", "type": "csat", "source": "hubspot", "delay": "1h",
                  "company": "Acme"}]}


def _themes(table: dict[str, Any]) -> Any:
    return parse_config({**BASE, "themes": table}).themes


def _problems(table: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, "themes": table})
    return caught.value.problems


def test_without_a_themes_table_the_built_ins_are_in_force() -> None:
    settings = parse_config(BASE).themes
    assert (settings.defaults, settings.property, len(settings.dictionary())) == (True, None, 14)


def test_a_language_list_replaces_only_that_language_of_a_built_in() -> None:
    """[themes.delivery] en = [...]: English is the config's, French stays built in."""
    matcher = _themes({"delivery": {"en": ["drone drop"]}}).matcher()
    assert matcher.assign("The drone drop was great", "en") == ("delivery",)
    assert matcher.assign("The delivery was great", "en") == ()
    assert matcher.assign("La livraison était parfaite", "fr") == ("delivery",)


def test_new_themes_are_added_after_the_built_ins() -> None:
    settings = _themes({"warranty": {"label": "Warranty", "en": ["warranty"],
                                     "de": ["garantie"]}})
    names = [t.name for t in settings.dictionary()]
    assert (names[-1], len(names)) == ("warranty", 15)
    assert settings.matcher().assign("Garantie abgelehnt", "de") == ("warranty",)


def test_defaults_false_keeps_only_the_configs_themes() -> None:
    settings = _themes({"defaults": False, "warranty": {"en": ["warranty"]}})
    assert [(t.name, t.label) for t in settings.dictionary()] == [("warranty", "Warranty")]


def test_enabled_false_drops_a_built_in() -> None:
    settings = _themes({"price": {"enabled": False}})
    assert "price" not in [t.name for t in settings.dictionary()]


@pytest.mark.parametrize(("table", "line"), [
    ({"delivery": {"dk": ["levering"]}},
     "config: themes: delivery.dk: unknown key; expected a language (en, fr, nb, de, es), "
     "label or enabled"),
    ({"delivery": {"en": []}},
     "config: themes: delivery.en: the list of synonyms is empty; leave the key out to keep "
     "the built-in list of this language"),
    ({"delivery": {"en": ["  "]}},
     "config: themes: delivery.en: every synonym is a non-empty string, got '  '"),
    ({"delivery": {"en": ["***"]}}, "config: themes: delivery.en: '***' has no word to match"),
    ({"delivery": {"en": "delivery"}},
     "config: themes: delivery.en: expected a list of words or phrases, got 'delivery'"),
    ({"Wait Time": {"en": ["wait"]}},
     "config: themes: Wait Time: a theme name is lower-case letters, digits and '_' (max 40), "
     "starting with a letter, such as delivery or wait_time"),
    ({"property": "Last-Themes"},
     "config: themes: property: expected a property name such as cl_feedback_last_themes "
     "(lower-case letters, digits and '_'), got 'Last-Themes'"),
    ({"defaults": False},
     "config: themes: no theme is left: defaults = false and no [themes.<name>] table with "
     "synonyms (or every theme has enabled = false)"),
])
def test_mistakes_are_one_line_naming_the_key(table: dict[str, Any], line: str) -> None:
    assert _problems(table) == [line]
