"""Numbers to E.164, the channel a row takes, and what a reply means."""

from __future__ import annotations

from datetime import timedelta

import pytest

from closedloop.daemon.channels.choose import INVALID_PHONE, NO_PHONE, Route, route
from closedloop.daemon.channels.phones import InvalidPhone, masked, to_e164
from closedloop.daemon.channels.replies import STOP_WORDS, keyword, parse_score
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.base import Contact


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("(415) 555-0100", "US", "+14155550100"),
    ("+1 415 555 0100", "NO", "+14155550100"),  # an international form ignores the region
    ("912 34 567", "NO", "+4791234567"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("0033 6 12 34 56 78", "US", "+33612345678"),  # 00 is the international prefix
    ("0151 2345 6789", "DE", "+4915123456789"),
])
def test_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    """Numbers as people type them, read in the default region when they have no +."""
    assert expected == to_e164(raw, region)


@pytest.mark.parametrize("raw", ["", "12-34", "not a number", "+1 415 555", "06 12 34 56 78"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    """Nothing is guessed: too short, letters, or a French mobile read as a US number."""
    with pytest.raises(InvalidPhone):
        to_e164(raw, "US")


def test_logs_see_a_masked_number() -> None:
    """Enough to tell two numbers apart, not to dial one."""
    assert masked("+14155550100") == "+14******100"


@pytest.mark.parametrize(("channel", "email", "phone", "expected"), [
    ("email", "a@b.example", "(415) 555-0100", Route("email")),
    ("sms", "a@b.example", "(415) 555-0100", Route("sms", "+14155550100")),
    ("sms", None, None, Route("sms", skip_reason=NO_PHONE)),
    ("sms", None, "12", Route("sms", skip_reason=INVALID_PHONE)),
    ("email_then_sms", "a@b.example", "(415) 555-0100", Route("email")),
    ("email_then_sms", None, "(415) 555-0100", Route("sms", "+14155550100")),
    ("email_then_sms", None, None, Route("sms", skip_reason=NO_PHONE)),
])
def test_route_per_program_channel(channel: str, email: str | None, phone: str | None,
                                   expected: Route) -> None:
    """"email_then_sms" texts only people without an address."""
    contact = Contact(id="1", email=email, phone=phone)
    assert expected == route(channel, contact, "US")


NPS = Program(name="p", type=SurveyType.NPS, source="s", delay=timedelta(0), company="Acme")
CSAT = Program(name="c", type=SurveyType.CSAT, source="s", delay=timedelta(0), company="Acme")


@pytest.mark.parametrize(("body", "program", "expected"), [
    ("9", NPS, (9, None)),
    (" 10 ", NPS, (10, None)),
    ("0", NPS, (0, None)),
    ("9 great service", NPS, (9, "great service")),
    ("9: fast and kind", NPS, (9, "fast and kind")),
    ("10! loved it", NPS, (10, "loved it")),
    ("8/10 ok", NPS, (8, "ok")),
    ("11", NPS, None),  # off the scale
    ("5", CSAT, (5, None)),
    ("6", CSAT, None),
    ("0", CSAT, None),
    ("great", NPS, None),
    ("9000", NPS, None),
])
def test_reply_scores(body: str, program: Program,
                      expected: tuple[int, str | None] | None) -> None:
    """A reply starting with a score on the program's scale, then an optional comment."""
    assert expected == parse_score(body, program)


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop. ", "ARRET", "Arrêt", "STOPP",
                                  "alto", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT",
                                  "Avslutt", "BAJA"])
def test_opt_out_words_in_every_language(body: str) -> None:
    """Twilio's words and their French, German, Norwegian and Spanish kin."""
    assert keyword(body) in STOP_WORDS


@pytest.mark.parametrize("body", ["stop sending me surveys please", "9 stop", "STOPPED"])
def test_a_sentence_with_stop_in_it_is_not_an_opt_out(body: str) -> None:
    """As Twilio: only the whole text being the word counts."""
    assert keyword(body) not in STOP_WORDS
