"""Build the survey e-mail: a plain-text part and an HTML part with one-click score buttons.

Every score is a plain link (`{public_url}/r/{token}/{score}`), because a mail client runs no
script and many strip forms; the landing page turns the click into a POST, so a link scanner
that fetches every URL records nothing. The HTML is a table layout with inline styles only
(Outlook's Word engine, Gmail and Apple Mail all render it) and needs no images.

A reminder is the same mail with its own subject and an opening line, and links that carry
the original survey's token, so an answer to either lands on the one survey. A program's own
wording (`program.texts`, see daemon.texts) replaces the catalog's per language. What depends
only on the program and the language is built once per process (see `_catalog`): dispatch
composes thousands of these. The mail itself is written from a template prepared once per
program, language and shape (prepared.py): what this module says per mail is joined into it.
The email package builds the same mail when asked (`prepared_template=False`) and when the
prepared template cannot (a body holding the shared boundary).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import Template

from closedloop.daemon.delivery import prepared
from closedloop.daemon.delivery.context import context_line, reason
from closedloop.daemon.delivery.message_ids import make_message_id
from closedloop.daemon.delivery.mime import ALTERNATIVE as _ALTERNATIVE
from closedloop.daemon.delivery.mime import BOUNDARY_LINE as _BOUNDARY_LINE
from closedloop.daemon.delivery.mime import POLICY, Sender, subject_line
from closedloop.daemon.delivery.mime import one_line as _one_line
from closedloop.daemon.i18n import (
    N_,
    SOURCE_LANGUAGE,
    Translator,
    Wording,
    jinja_environment,
    translator,
)
from closedloop.daemon.i18n import wording as catalog_wording
from closedloop.daemon.store import SendRecord
from closedloop.daemon.surveys import Program, SurveyType
from closedloop.daemon.texts import program_text
from closedloop.daemon.web.links import score_url, unsubscribe_url
from closedloop.daemon.web.tokens import TokenSigner

_TEMPLATES = "closedloop.daemon.delivery"

__all__ = ["POLICY", "REMINDER_INTRO", "REMINDER_SUBJECT", "ScoreLink", "Sender", "compose_mail",
           "compose_survey", "score_labels", "subject"]

REMINDER_SUBJECT = N_("A reminder from %(company)s")
REMINDER_INTRO = N_("We would still love to hear from you.")


@dataclass(frozen=True)
class ScoreLink:
    """One answer button: the score, where it leads, and what a screen reader says."""

    score: int
    url: str
    label: str


def score_labels(program: Program, tr: Translator, *, low: str, high: str) -> tuple[str, ...]:
    """What a screen reader says for each button: "0 out of 10, Not at all likely", "1 out…"."""
    points = program.scale.points
    labels = []
    for score in points:
        label = tr.gettext("%(score)s out of %(high)s", score=score, high=points[-1])
        if score == points[0]:
            label = f"{label}, {low}"
        elif score == points[-1]:
            label = f"{label}, {high}"
        labels.append(label)
    return tuple(labels)


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


@dataclass(frozen=True)
class _Catalog:
    """What one program says in one language, whoever the mail is for."""

    program: Program
    tr: Translator
    wording: Wording
    labels: tuple[str, ...]  # the screen-reader label of each score button, lowest first
    text: Template  # held here: Jinja's own cache stats the file on every lookup
    html: Template


_CATALOGS: dict[tuple[str, str], _Catalog] = {}


def _catalog(program: Program, language: str) -> _Catalog:
    """Built once per (program, negotiated language). Keyed by name and checked by identity,
    since a Program (it holds a dict) cannot be hashed; a reloaded config simply rebuilds."""
    key = (program.name, language)
    found = _CATALOGS.get(key)
    if found is not None and found.program is program:
        return found
    tr = translator(language)
    words = catalog_wording(program.type, program.company, program.follow_up, tr)
    labels = score_labels(program, tr, low=words.low_label, high=words.high_label)
    env = jinja_environment(_TEMPLATES, tr.language)
    built = _Catalog(program, tr, words, labels, env.get_template("survey.txt"),
                     env.get_template("survey.html"))
    _CATALOGS[key] = built
    return built


def compose_mail(
    row: SendRecord,
    program: Program,
    *,
    public_url: str,
    signer: TokenSigner,
    sender: Sender,
    fallback_language: str = SOURCE_LANGUAGE,
    now: datetime | None = None,
) -> EmailMessage:
    """The mail for one outbox row: a survey, or (kind "reminder") a reminder of its survey.

    Every link, the unsubscribe one included, carries the survey's token (`row.survey_id`);
    the Message-ID names the row itself, so a bounce is traced to the mail that bounced. The
    token is dated when the survey is sent (`now`, the time dispatch records as sent_at); a
    reminder's row was created at that very moment, so its links are the survey's own token.
    """
    if row.email is None:
        raise ValueError("a send without an address cannot be composed")
    reminder = row.kind == "reminder"
    issued_at = row.created_at if reminder else now
    return compose_survey(
        program=program, send_id=row.survey_id, to=row.email, first_name=row.first_name,
        language=row.language, public_url=public_url, signer=signer, sender=sender,
        ticket_subject=row.subject,
        unsubscribe_url=unsubscribe_url(public_url, signer, row.survey_id, issued_at), now=now,
        reminder=reminder, message_send_id=row.id,
        fallback_language=fallback_language, issued_at=issued_at,
    )


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
    reminder: bool = False,
    message_send_id: int | None = None,
    fallback_language: str = SOURCE_LANGUAGE,
    issued_at: datetime | None = None,
    ticket_subject: str | None = None,
    prepared_template: bool = True,
) -> EmailMessage:
    """The complete message for one send, in the contact's language (else `fallback_language`).

    `send_id` is the survey the links answer; `message_send_id` (default `send_id`) is the
    outbox row the Message-ID names, a reminder's own id; `issued_at` dates the links' token.
    `ticket_subject` (CSAT, CES) names the request the mail asks about. The mail is written
    from the prepared template (prepared.py); `prepared_template=False` has the email package
    build it instead, as it does when a body holds the shared boundary: the same mail.
    """
    catalog = _catalog(program, translator(language, fallback_language).language)
    tr = catalog.tr
    lang = tr.language
    name = _one_line(first_name)
    values = {"company": program.company, "first_name": name or ""}
    question = program_text(program, "question", lang, catalog.wording.question, **values)
    if reminder:
        title = program_text(program, "reminder_subject", lang,
                             tr.gettext(REMINDER_SUBJECT, company=program.company), **values)
        intro: str | None = program_text(program, "reminder_intro", lang,
                                         tr.gettext(REMINDER_INTRO), **values)
    else:
        title = program_text(program, "subject", lang, subject(program, name, tr), **values)
        intro = program_text(program, "intro", lang, "", **values) or None
    says: prepared.Values = (
        name or "", intro or "", context_line(program, _one_line(ticket_subject), tr), question,
        signer.make(send_id, issued_at), unsubscribe_url or "")
    shape = prepared.Shape(bool(name), bool(intro), bool(unsubscribe_url))
    date = now or datetime.now(UTC)
    message_id = make_message_id(
        send_id if message_send_id is None else message_send_id, sender.domain)
    if prepared_template:
        template = prepared.template(
            program, lang, public_url, sender, shape,
            lambda marks, form: _render(catalog, public_url, marks, form))
        mail = prepared.build(template, says, subject=subject_line(title),
                              subject_name=name or "", to=to, date=date,
                              message_id=message_id, unsubscribe_url=unsubscribe_url)
        if mail is not None:
            return mail
    text, html = _render(catalog, public_url, says, shape)
    return _email_package_mail(text, html, lang=lang, title=title, to=to, sender=sender,
                               date=format_datetime(date), message_id=message_id,
                               unsubscribe_url=unsubscribe_url)


def _render(catalog: _Catalog, public_url: str, says: prepared.Values,
            shape: prepared.Shape) -> tuple[str, str]:
    """Both parts rendered by Jinja for what one mail says (or for placeholders of it)."""
    program = catalog.program
    links = [ScoreLink(score, score_url(public_url, says[prepared.TOKEN], score), label)
             for score, label in zip(program.scale.points, catalog.labels, strict=True)]
    words = catalog.wording
    if says[prepared.QUESTION] != words.question:
        words = replace(words, question=says[prepared.QUESTION])
    about = says[prepared.ABOUT]
    context = {
        "program": program,
        "company": program.company,
        "first_name": says[prepared.NAME] if shape.first_name else None,
        "intro": says[prepared.INTRO] if shape.intro else None,
        "wording": words,
        "links": links,
        "nps": program.type == SurveyType.NPS,
        "unsubscribe_url": says[prepared.UNSUBSCRIBE] if shape.unsubscribe else None,
        "lang": catalog.tr.language,
        "brand": program.branding,
        "context_line": about,
        "preheader": about,
        "reason": reason(program, catalog.tr),
        "cell_width": f"{100 / len(links):.2f}".rstrip("0").rstrip("."),
    }
    return catalog.text.render(context), catalog.html.render(context)


def _email_package_mail(text: str, html: str, *, lang: str, title: str, to: str,
                        sender: Sender, date: str, message_id: str,
                        unsubscribe_url: str | None) -> EmailMessage:
    """The mail as the email package builds it (what prepared.py writes directly)."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject_line(title)
    msg["From"] = sender.from_address()
    msg["To"] = to
    if sender.reply_to:
        msg["Reply-To"] = sender.reply_to
    msg["Date"] = date
    msg["Message-ID"] = message_id
    # Ask auto-responders (out-of-office, Exchange) not to answer a survey.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if _BOUNDARY_LINE not in text and _BOUNDARY_LINE not in html:
        # A fixed boundary: the generator would draw one and compile a regex to check it
        # for every mail (a tenth of the work); this header is then a constant one.
        msg.replace_header("Content-Type", _ALTERNATIVE)
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    return msg
