"""A program's own texts per language: when they apply, and that filling them never fails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedloop.daemon.i18n import translator
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.texts import TEXT_KEYS, fill, program_text, program_wording


def program(**texts: dict[str, str]) -> Program:
    return Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme",
                   follow_up="Anything else?", texts=texts)


def test_override_in_the_language_fills_company_and_first_name() -> None:
    """The admin's text wins over the catalog's, with {company} and {first_name} filled."""
    p = program(fr={"subject": "{first_name}, une question de {company}"})
    text = program_text(p, "subject", "fr", "DEFAULT", company="Acme", first_name="Zoé")
    assert text == "Zoé, une question de Acme"


def test_no_override_returns_the_default_untouched() -> None:
    """Another language's override does not apply; the default (already translated and
    filled by the caller) is returned as is, braces included."""
    p = program(fr={"subject": "Bonjour"})
    assert program_text(p, "subject", "de", "Hallo {x}", company="Acme") == "Hallo {x}"
    assert program_text(p, "intro", "fr", "D", company="Acme") == "D"


def test_empty_override_counts_as_unset() -> None:
    """An empty string in the config would send an empty subject: use the catalog's."""
    assert program_text(program(en={"subject": ""}), "subject", "en", "D") == "D"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {first_name}!", "Hi !"),  # an unknown first name is passed as ""
        ("{unknown} stays", "{unknown} stays"),
        ("a { b } c {", "a { b } c {"),
        ("{0} {} {company!r} {company:>9}", "{0} {} {company!r} {company:>9}"),
        ("{{company}}", "{Acme}"),  # not str.format: doubled braces are not an escape
        ("50% off, %(company)s", "50% off, %(company)s"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_placeholders_are_filled_safely(text: str, expected: str) -> None:
    """Only known names are replaced; anything else with braces is kept as written."""
    p = program(en={"intro": text})
    assert program_text(p, "intro", "en", "D", company="Acme", first_name="") == expected


@given(st.text())
def test_fill_never_raises(text: str) -> None:
    """Whatever an admin writes, filling it returns a string (never a KeyError/IndexError)."""
    assert isinstance(fill(text, {"company": "Acme", "first_name": "Ana"}), str)


def test_values_are_not_filled_twice() -> None:
    """A first name that looks like a placeholder is inserted literally."""
    p = program(en={"intro": "Hi {first_name} from {company}"})
    text = program_text(p, "intro", "en", "D", company="Acme", first_name="{company}")
    assert text == "Hi {company} from Acme"


def test_norwegian_alias_texts_serve_bokmal() -> None:
    """Texts configured as "no" (or "nn") apply to the bokmål ("nb") mails and pages; an
    exact "nb" text wins over them."""
    assert program_text(program(no={"thanks": "Takk!"}), "thanks", "nb", "D") == "Takk!"
    both = program(nb={"thanks": "nb"}, no={"thanks": "no"})
    assert program_text(both, "thanks", "nb", "D") == "nb"


def test_unknown_key_is_a_bug_at_the_call_site() -> None:
    """The keys are a closed set shared with config validation."""
    assert {"subject", "intro", "question", "follow_up", "thanks", "reminder_subject",
            "reminder_intro"} == TEXT_KEYS
    with pytest.raises(ValueError, match="unknown text key 'subjet'"):
        program_text(program(), "subjet", "en", "D")


def test_program_wording_applies_question_and_follow_up_overrides() -> None:
    """The wording the mail and pages share: overrides in its language, catalog elsewhere."""
    p = program(de={"question": "{first_name}, würden Sie {company} empfehlen?"})
    german = program_wording(p, translator("de"), first_name="Lena")
    assert german.question == "Lena, würden Sie Acme empfehlen?"
    assert (german.low_label, german.high_label) == (
        "Überhaupt nicht wahrscheinlich", "Äußerst wahrscheinlich")
    assert german.follow_up == "Anything else?"  # the program's follow_up, not overridden
    spanish = program_wording(p, translator("es"))
    assert spanish.question.startswith("¿Qué probabilidad hay de que recomiende Acme")
