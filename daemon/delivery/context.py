"""What a survey mail says around its question: which request it is about (CSAT, CES), why the
person hears from the company (NPS), the inbox preview line, and the footer's reason.

A ticket's subject is CRM data written by the customer or an agent: it is folded to one line
and shortened here, and escaped by the template like any other value.
"""

from __future__ import annotations

from closedloop.daemon.i18n import N_, Translator
from closedloop.daemon.surveys import Program, SurveyType

SUBJECT_LIMIT = 70  # characters of the ticket subject the mail quotes

ABOUT_REQUEST = N_("About your request “%(subject)s”")
ABOUT_RECENT_REQUEST = N_("About your recent request to %(company)s")
NPS_WHY = N_("From time to time we ask our customers one question: your answer helps "
             "%(company)s decide what to improve.")
REASON_TICKET = N_("You receive this e-mail because you recently contacted %(company)s.")
REASON_CUSTOMER = N_("You receive this e-mail because you use the services of %(company)s.")


def shorten(text: str | None, limit: int = SUBJECT_LIMIT) -> str | None:
    """One line of at most `limit` characters, cut at a word when one is near, with "…"."""
    if text is None:
        return None
    line = " ".join(text.split())
    if not line:
        return None
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def context_line(program: Program, subject: str | None, tr: Translator) -> str:
    """CSAT/CES: the request the survey is about; NPS: why the person is asked."""
    if program.type == SurveyType.NPS:
        return tr.gettext(NPS_WHY, company=program.company)
    short = shorten(subject)
    if short:
        return tr.gettext(ABOUT_REQUEST, subject=short)
    return tr.gettext(ABOUT_RECENT_REQUEST, company=program.company)


def reason(program: Program, tr: Translator) -> str:
    """The footer's "you receive this because…", naming the company in the footer."""
    message = REASON_CUSTOMER if program.type == SurveyType.NPS else REASON_TICKET
    return tr.gettext(message, company=program.branding.company)
