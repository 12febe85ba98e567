"""Translations: language negotiation, the shipped French catalog, and its completeness."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from closedloop.daemon.i18n import (
    LOCALE_DIR,
    QUESTIONS,
    SCALE_LABELS,
    available_languages,
    negotiate,
    negotiate_accept_language,
    translator,
    wording,
)
from closedloop.daemon.surveys import SurveyType

DAEMON = Path(__file__).resolve().parents[2] / "daemon"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("fr_ca", "fr"),
        ("FR", "fr"),
        (" fr-BE ", "fr"),
        ("en-GB", "en"),
        ("en-US", "en"),
        ("de", "de"),
        ("de-CH", "de"),  # Zendesk locale
        ("es-419", "es"),  # Zendesk's Latin American Spanish
        ("nb", "nb"),
        ("nb-NO", "nb"),
        ("no", "nb"),  # HubSpot's and Zendesk's Norwegian: served in bokmål
        ("nn", "nb"),  # nynorsk readers read bokmål; better than English
        ("pt-br", "en"),  # HubSpot hs_language without a catalog
        ("it", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_negotiate_maps_crm_tags_to_shipped_languages(tag: str | None, expected: str) -> None:
    """Region subtags are dropped, Norwegian means bokmål; unknown languages fall back."""
    assert expected == negotiate(tag)


def test_negotiate_uses_the_given_fallback() -> None:
    """The fallback is the caller's choice (Policy.fallback_language in the daemon)."""
    assert negotiate("it", fallback="") == ""
    assert negotiate("pt-BR", fallback="nb") == "nb"
    assert negotiate(None, fallback="de") == "de"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("it;q=0.9, fr;q=0.8, en;q=0.5", "fr"),
        ("en;q=0.4, fr;q=0.7", "fr"),
        ("fr;q=0, en", "en"),
        ("it, pt", "en"),
        ("nn-NO, en;q=0.5", "nb"),
        ("*", "en"),
        ("garbage;;;q=x", "en"),
        (None, "en"),
    ],
)
def test_accept_language_picks_the_best_shipped_language(
    header: str | None, expected: str
) -> None:
    """q-values order the preferences; q=0 means "not this one"."""
    assert expected == negotiate_accept_language(header)


def test_french_question_and_labels() -> None:
    """The survey wording comes out in French with the company name filled in."""
    words = wording(SurveyType.NPS, "Acme", None, translator("fr"))
    assert (
        words.question
        == "Quelle est la probabilité que vous recommandiez Acme à une personne de votre "
        "entourage\u00a0?"
    )
    assert (words.low_label, words.high_label) == ("Pas du tout probable", "Très probable")
    assert words.follow_up == "Quelle est la raison principale de votre note\u00a0?"


def test_configured_follow_up_is_shown_as_written() -> None:
    """An admin's own follow-up question is not replaced by the default."""
    words = wording(SurveyType.CSAT, "Acme", "Anything else?", translator("fr"))
    assert words.follow_up == "Anything else?"


def test_english_is_the_source_language() -> None:
    """English needs no catalog: msgids are returned as written."""
    words = wording(SurveyType.CES, "Acme", None, translator("en"))
    assert words.question == "How easy was it to get your issue resolved?"
    assert (words.low_label, words.high_label) == ("Very difficult", "Very easy")


def _extracted_msgids() -> set[str]:
    method_map = [
        ("**.py", "python"),
        ("**/templates/**.html", "jinja2"),
        ("**/templates/**.txt", "jinja2"),
    ]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str] = set()
    for sub in ("delivery", "web"):
        for _, _, message, _, _ in extract_from_dir(DAEMON / sub, method_map, keywords=keywords):
            found.add(message if isinstance(message, str) else message[0])
    for _, _, message, _, _ in extract_from_dir(
        DAEMON, [("i18n.py", "python")], keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


LANGUAGES = ("fr", "nb", "de", "es")


def _catalog(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def test_every_required_language_ships_a_catalog() -> None:
    """English (the source) plus French, bokmål, German and Spanish, at least."""
    assert {"en", *LANGUAGES} <= available_languages()


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_translates_every_string_in_code_and_templates(language: str) -> None:
    """Every msgid used by the mails and pages has a non-fuzzy translation; a missing or
    fuzzy one (fuzzy entries are never used at run time) fails here."""
    catalog = _catalog(language)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    used = _extracted_msgids()
    assert set() == used - translated
    assert set(QUESTIONS.values()) | {s for pair in SCALE_LABELS.values() for s in pair} <= used


def test_pot_template_is_up_to_date() -> None:
    """messages.pot holds every msgid in use (re-extract with pybabel as babel.cfg says)."""
    with (LOCALE_DIR / "messages.pot").open("rb") as pot:
        template = {m.id for m in read_po(pot) if m.id}
    assert set() == _extracted_msgids() - template


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    """A translation must use exactly the msgid's %(name)s placeholders, or formatting fails."""
    mismatched = [
        m.id for m in _catalog(language)
        if m.id and set(_placeholders(str(m.id))) != set(_placeholders(str(m.string)))
    ]
    assert mismatched == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_differ_from_english(language: str) -> None:
    """A copied English msgid is not a translation (a few words are the same in German)."""
    same_on_purpose = {"(optional)"}
    copied = [m.id for m in _catalog(language)
              if m.id and m.string == m.id and m.id not in same_on_purpose and " " in str(m.id)]
    assert copied == []


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\((\w+)\)s", text)
