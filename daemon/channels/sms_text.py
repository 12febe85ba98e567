"""The survey as one text message, in the person's language, in ONE segment.

A text is the question, how to answer by reply, a short link to the survey pages and how to
stop. The wording is short on purpose and written per language without characters outside
GSM-7 (French without ç, â, ê, ’; Spanish without á, í, ó, ú), so every language fits 160
characters with a company name and the link; segments.py counts. When a long company name
still pushes it over, the company is left out; when even that does not fit, the row fails
with a reason instead of costing two segments per person.
"""

from __future__ import annotations

from dataclasses import dataclass

from closedloop.daemon.channels.segments import Segments, count_segments
from closedloop.daemon.i18n import N_, translator
from closedloop.daemon.surveys import Program, SurveyType

TEXT = N_("%(company)s: %(question)s Reply %(low)s-%(high)s or tap %(link)s "
          "Reply STOP to opt out")
SHORT_TEXT = N_("%(question)s Reply %(low)s-%(high)s or tap %(link)s STOP to opt out")
QUESTIONS: dict[SurveyType, str] = {
    SurveyType.NPS: N_("How likely are you to recommend us?"),
    SurveyType.CSAT: N_("How satisfied were you with our help?"),
    SurveyType.CES: N_("How easy was it to get your issue solved?"),
}
THANKS = N_("Thank you! Your score %(score)s is recorded. Add a comment: %(link)s")
NOT_UNDERSTOOD = N_("Sorry, we could not read that. Reply with a number from %(low)s to "
                    "%(high)s, or STOP to opt out.")
STOPPED = N_("You will get no more surveys from us. Reply START to receive them again.")
MSGIDS = (TEXT, SHORT_TEXT, THANKS, NOT_UNDERSTOOD, STOPPED, *QUESTIONS.values())


class TooLong(ValueError):
    """Even the short form takes more than one segment (a very long link or company)."""


@dataclass(frozen=True)
class SmsText:
    text: str
    segments: Segments


def survey_text(program: Program, language: str, link: str) -> SmsText:
    """The survey SMS for `program` in `language` (negotiated), with `link`; one segment."""
    tr = translator(language)
    scale = program.scale
    values = {"question": tr.gettext(QUESTIONS[program.type]), "low": scale.low,
              "high": scale.high, "link": link}
    for template, extra in ((TEXT, {"company": program.company}), (SHORT_TEXT, {})):
        text = tr.gettext(template, **values, **extra)
        segments = count_segments(text)
        if segments.count == 1:
            return SmsText(text, segments)
    raise TooLong(f"the SMS takes {segments.count} segments ({segments.encoding}, "
                  f"{segments.units} units) even without the company name")
