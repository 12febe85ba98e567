"""Which languages ship, how config is checked against them, and a phrase of each catalog."""

from __future__ import annotations

from typing import Any

import pytest

from closedloop.daemon.config import parse_config
from closedloop.daemon.i18n import check_language, translator, wording
from closedloop.daemon.surveys import SurveyType
from closedloop.integration.errors import ConfigError

CES_QUESTION = {
    "en": "How easy was it to get your issue resolved?",
    "fr": "Dans quelle mesure a-t-il été facile de résoudre votre problème\u00a0?",
    "nb": "Hvor enkelt var det å få løst saken din?",
    "de": "Wie einfach war es, Ihr Anliegen zu lösen?",
    "es": "¿Qué tan fácil le resultó resolver su problema?",
}


@pytest.mark.parametrize(("language", "question"), CES_QUESTION.items())
def test_each_language_asks_in_its_own_words(language: str, question: str) -> None:
    """The catalog is loaded and used (fuzzy-free) for every shipped language."""
    assert wording(SurveyType.CES, "Acme", None, translator(language)).question == question


def test_reminder_subject_is_translated() -> None:
    """The reminder msgids the mail composer uses are in every catalog, filled; French
    elides "de" before a vowel ("de la part d’Acme")."""
    subjects = {lang: translator(lang).gettext("A reminder from %(company)s", company="Acme")
                for lang in CES_QUESTION}
    assert subjects == {
        "en": "A reminder from Acme",
        "fr": "Un rappel de la part d’Acme",
        "nb": "En påminnelse fra Acme",
        "de": "Eine Erinnerung von Acme",
        "es": "Un recordatorio de Acme",
    }


@pytest.mark.parametrize("language", ["en", "fr", "nb", "de", "es", "no", "nn"])
def test_shipped_languages_and_aliases_pass_the_check(language: str) -> None:
    assert check_language(language) == language


def test_unshipped_language_error_lists_what_ships() -> None:
    """The error says which languages can be chosen, aliases included."""
    with pytest.raises(ValueError, match=r"no translations for 'it'; available: "
                       r"de, en, es, fr, nb \(also nn = nb, no = nb\)"):
        check_language("it")


def _config(rules: dict[str, Any] | None = None,
            texts: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"host": "127.0.0.1", "from_address": "surveys@acme.example"},
        "rules": rules or {},
        "programs": [{"name": "nps", "type": "nps", "source": "hubspot", "company": "Acme",
                      "texts": texts or {}}],
    }


def test_config_fallback_must_have_a_catalog() -> None:
    """A fallback we cannot render is refused at startup (exit 2), naming the choices."""
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(rules={"fallback_language": "pt"}))
    assert caught.value.problems == [
        "config: rules.fallback_language: no translations for 'pt'; available: de, en, es, "
        "fr, nb (also nn = nb, no = nb)"
    ]


def test_config_texts_in_an_unshipped_language_are_refused() -> None:
    """An override nobody would ever see (no mail goes out in that language) is an error."""
    with pytest.raises(ConfigError, match=r"programs\[0\]\.texts: no translations for 'it'"):
        parse_config(_config(texts={"it": {"subject": "Una domanda"}}))


def test_config_accepts_shipped_fallback_and_alias_texts() -> None:
    """"nb" as fallback, texts under "no" and "de": valid, and carried into the Program."""
    config = parse_config(_config(rules={"fallback_language": "nb"},
                                  texts={"no": {"subject": "Hei"}, "de": {"thanks": "Danke"}}))
    assert config.policy().fallback_language == "nb"
    assert config.program_list()[0].texts == {"no": {"subject": "Hei"}, "de": {"thanks": "Danke"}}
