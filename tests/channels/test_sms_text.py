"""The SMS text: segments counted as carriers count them, and every shipped language's
survey text fits ONE segment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from closedloop.daemon.channels.segments import GSM7, UCS2, Segments, count_segments
from closedloop.daemon.channels.sms_text import TooLong, survey_text
from closedloop.daemon.i18n import available_languages
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.sandbox.twilio.server import segments_of

LINK = "https://feedback.example.com/s/AbCdEfGhIj"  # 41 characters, as /s/<10-char code>


def _program(survey: SurveyType, company: str = "Acme Support") -> Program:
    return Program(name="p", type=survey, source="s", delay=timedelta(0), company=company)


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, Segments(GSM7, 160, 1)),
    ("a" * 161, Segments(GSM7, 161, 2)),  # split: 153 a segment
    ("a" * 306, Segments(GSM7, 306, 2)),
    ("a" * 307, Segments(GSM7, 307, 3)),
    ("€" * 80, Segments(GSM7, 160, 1)),  # extension table: two septets each
    ("€" * 80 + "a", Segments(GSM7, 161, 2)),
    ("[]{}|~^\\", Segments(GSM7, 16, 1)),
    ("é" * 160, Segments(GSM7, 160, 1)),  # é is in the basic table
    ("ç" * 70, Segments(UCS2, 70, 1)),  # ç is not (only Ç is)
    ("ç" * 71, Segments(UCS2, 71, 2)),  # split: 67 a segment
    ("a" * 68 + "🙂", Segments(UCS2, 70, 1)),  # an emoji is two UTF-16 units
    ("a" * 69 + "🙂", Segments(UCS2, 71, 2)),
    ("", Segments(GSM7, 0, 1)),
])
def test_segments_on_both_sides_of_each_limit(text: str, expected: Segments) -> None:
    """GSM-7 160/153 with the extension table counted twice; UCS-2 70/67 in UTF-16 units;
    the sandbox gateway counts the same independently."""
    assert expected == count_segments(text)
    assert expected.count == segments_of(text)


@pytest.mark.parametrize("language", sorted(available_languages()))
@pytest.mark.parametrize("survey", list(SurveyType))
def test_every_language_fits_one_gsm7_segment(language: str, survey: SurveyType) -> None:
    """Each shipped language's survey text, with a company name and the short link, is one
    GSM-7 segment (no character forces UCS-2) and names the program's scale."""
    program = _program(survey)
    text = survey_text(program, language, LINK)
    assert (text.segments.encoding, text.segments.count) == (GSM7, 1)
    assert text.text.startswith("Acme Support")
    assert f"{program.scale.low}-{program.scale.high}" in text.text
    assert LINK in text.text


def test_a_long_company_name_is_left_out_rather_than_a_second_segment() -> None:
    """A company name that would push the text over 160 is dropped; the rest stays."""
    text = survey_text(_program(SurveyType.NPS, company="A" * 60), "en", LINK)
    assert (text.segments.count, text.text.startswith("How likely")) == (1, True)


def test_a_text_that_cannot_fit_is_refused() -> None:
    """Even the short form over one segment (a very long link): TooLong, a ValueError, so
    dispatch records the row as failed with the reason instead of paying for two."""
    with pytest.raises(TooLong, match="segments"):
        survey_text(_program(SurveyType.CSAT), "en", "https://x.example/" + "s" * 150)
