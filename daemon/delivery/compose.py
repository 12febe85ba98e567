"""Build the survey e-mail: a plain-text part and an HTML part with one-click score buttons.

Every score is a plain link (`{public_url}/r/{token}/{score}`), because a mail client runs no
script and many strip forms; the landing page turns the click into a POST, so a link scanner
that fetches every URL records nothing. The HTML is a table layout with inline styles only
(Outlook's Word engine, Gmail and Apple Mail all render it) and needs no images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from daemon.i18n import Translator, jinja_environment, translator, wording
from daemon.surveys import Program, SurveyType
from daemon.web.links import score_url
from daemon.web.tokens import TokenSigner

_TEMPLATES = "daemon.delivery"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Sender:
    """Who the mail is from; `reply_to` sends answers to a monitored inbox instead."""

    address: str
    name: str
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class ScoreLink:
    """One answer button: the score, where it leads, and what a screen reader says."""

    score: int
    url: str
    label: str


def _one_line(text: str | None) -> str | None:
    """CRM data goes into headers: fold control characters (CR, LF) to spaces, or drop it."""
    if text is None:
        return None
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    return cleaned or None


def score_links(
    program: Program, token: str, public_url: str, tr: Translator, *, low: str, high: str
) -> list[ScoreLink]:
    """The links for every point of the program's scale, lowest first."""
    points = program.scale.points
    links = []
    for score in points:
        label = tr.gettext("%(score)s out of %(high)s", score=score, high=points[-1])
        if score == points[0]:
            label = f"{label}, {low}"
        elif score == points[-1]:
            label = f"{label}, {high}"
        links.append(ScoreLink(score, score_url(public_url, token, score), label))
    return links


def subject(program: Program, first_name: str | None, tr: Translator) -> str:
    """NPS asks about the company; CSAT and CES ask about a support case that just closed."""
    if program.type == SurveyType.NPS:
        if first_name:
            return tr.gettext(
                "%(name)s, a quick question from %(company)s",
                name=first_name,
                company=program.company,
            )
        return tr.gettext("A quick question from %(company)s", company=program.company)
    if first_name:
        return tr.gettext("How did we do, %(name)s?", name=first_name)
    return tr.gettext("How did %(company)s do?", company=program.company)


def compose_survey(
    *,
    program: Program,
    send_id: int,
    to: str,
    first_name: str | None,
    language: str | None,
    public_url: str,
    signer: TokenSigner,
    sender: Sender,
    unsubscribe_url: str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The complete message for one send, in the contact's language (English when unknown)."""
    tr = translator(language)
    name = _one_line(first_name)
    words = wording(program.type, program.company, program.follow_up, tr)
    links = score_links(
        program, signer.make(send_id), public_url, tr, low=words.low_label, high=words.high_label
    )
    context = {
        "program": program,
        "company": program.company,
        "first_name": name,
        "wording": words,
        "links": links,
        "nps": program.type == SurveyType.NPS,
        "unsubscribe_url": unsubscribe_url,
        "lang": tr.language,
    }
    env = jinja_environment(_TEMPLATES, tr.language)

    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject(program, name, tr)
    msg["From"] = Address(display_name=_one_line(sender.name) or "", addr_spec=sender.address)
    msg["To"] = to
    if sender.reply_to:
        msg["Reply-To"] = sender.reply_to
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.domain)
    # Ask auto-responders (out-of-office, Exchange) not to answer a survey.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(env.get_template("survey.txt").render(context))
    msg.add_alternative(env.get_template("survey.html").render(context), subtype="html")
    msg["Content-Language"] = tr.language  # after set_content, which drops Content-* headers
    return msg
