"""Build the survey e-mail: a plain-text part and an HTML part with one-click score buttons.

Every score is a plain link (`{public_url}/r/{token}/{score}`), because a mail client runs no
script and many strip forms; the landing page turns the click into a POST, so a link scanner
that fetches every URL records nothing. The HTML is a table layout with inline styles only
(Outlook's Word engine, Gmail and Apple Mail all render it) and needs no images.

A reminder is the same mail with its own subject and an opening line, and links that carry
the original survey's token, so an answer to either lands on the one survey. A program's own
wording (`program.texts`, see daemon.texts) replaces the catalog's per language. What depends
only on the program and the language is built once per process (see `_catalog`): dispatch
composes thousands of these.
"""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any

from jinja2 import Template

from closedloop.daemon.delivery.context import context_line, reason
from closedloop.daemon.delivery.message_ids import make_message_id
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
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

REMINDER_SUBJECT = N_("A reminder from %(company)s")
REMINDER_INTRO = N_("We would still love to hear from you.")


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new class with type() for every header it parses (about
    30 µs each, a fifth of composing a mail); the class depends only on the name, so keep it."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


# Headers whose values repeat from mail to mail (the sender, the MIME structure's own): each
# distinct value is parsed once and folded once per output policy, then shared (header
# objects are immutable). Parsing and folding headers was a third of building a mail.
_CONSTANT = frozenset({
    "from", "reply-to", "auto-submitted", "x-auto-response-suppress",
    "list-unsubscribe-post", "content-language", "mime-version", "content-type",
    "content-transfer-encoding",
})
_PARSED: dict[tuple[str, str], tuple[str, Any]] = {}
_FOLDED: dict[tuple[str, str, str, int | None, str, bool], bytes] = {}
_MEMO_LIMIT = 4096  # distinct values kept; past it the memo starts over (never unbounded)


class _SurveyPolicy(EmailPolicy):
    """The SMTP policy with the constant headers' parse and fold memoized; the output is
    the stdlib's own (the first mail with each value computes it)."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is not str or name.lower() not in _CONSTANT:
            return super().header_store_parse(name, value)
        key = (name, value)
        found = _PARSED.get(key)
        if found is None:
            if len(_PARSED) >= _MEMO_LIMIT:
                _PARSED.clear()
            found = _PARSED[key] = super().header_store_parse(name, value)
        return found

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not isinstance(value, BaseHeader) or name.lower() not in _CONSTANT:
            return super().fold_binary(name, value)
        key = (name, str(value), self.linesep, self.max_line_length, self.cte_type,
               self.utf8)
        found = _FOLDED.get(key)
        if found is None:
            if len(_FOLDED) >= _MEMO_LIMIT:
                _FOLDED.clear()
            found = _FOLDED[key] = super().fold_binary(name, value)
        return found


# Chosen once per process, in the stdlib generator's own form; used when no body line holds it.
_BOUNDARY = f"==============={secrets.randbelow(sys.maxsize):019d}=="
_BOUNDARY_LINE = f"--{_BOUNDARY}"
_ALTERNATIVE = f'multipart/alternative; boundary="{_BOUNDARY}"'

POLICY = _SurveyPolicy(linesep="\r\n", header_factory=_CachedHeaderRegistry())  # = SMTP


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
) -> EmailMessage:
    """The complete message for one send, in the contact's language (else `fallback_language`).

    `send_id` is the survey the links answer; `message_send_id` (default `send_id`) is the
    outbox row the Message-ID names, a reminder's own id; `issued_at` dates the links' token.
    `ticket_subject` (CSAT, CES) names the request the mail asks about.
    """
    catalog = _catalog(program, translator(language, fallback_language).language)
    tr = catalog.tr
    lang = tr.language
    name = _one_line(first_name)
    values = {"company": program.company, "first_name": name or ""}
    words = catalog.wording
    question = program_text(program, "question", lang, words.question, **values)
    if question != words.question:
        words = replace(words, question=question)
    token = signer.make(send_id, issued_at)
    links = [ScoreLink(score, score_url(public_url, token, score), label)
             for score, label in zip(program.scale.points, catalog.labels, strict=True)]
    if reminder:
        title = program_text(program, "reminder_subject", lang,
                             tr.gettext(REMINDER_SUBJECT, company=program.company), **values)
        intro: str | None = program_text(program, "reminder_intro", lang,
                                         tr.gettext(REMINDER_INTRO), **values)
    else:
        title = program_text(program, "subject", lang, subject(program, name, tr), **values)
        intro = program_text(program, "intro", lang, "", **values) or None
    about = context_line(program, _one_line(ticket_subject), tr)
    context = {
        "program": program,
        "company": program.company,
        "first_name": name,
        "intro": intro,
        "wording": words,
        "links": links,
        "nps": program.type == SurveyType.NPS,
        "unsubscribe_url": unsubscribe_url,
        "lang": lang,
        "brand": program.branding,
        "context_line": about,
        "preheader": about,
        "reason": reason(program, tr),
        "cell_width": f"{100 / len(links):.2f}".rstrip("0").rstrip("."),
    }

    msg = EmailMessage(policy=POLICY)
    # Only control characters go: a no-break space before "?" is French typography.
    msg["Subject"] = _CONTROL.sub(" ", title).strip()
    msg["From"] = Address(display_name=_one_line(sender.name) or "", addr_spec=sender.address)
    msg["To"] = to
    if sender.reply_to:
        msg["Reply-To"] = sender.reply_to
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = make_message_id(
        send_id if message_send_id is None else message_send_id, sender.domain
    )
    # Ask auto-responders (out-of-office, Exchange) not to answer a survey.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = catalog.text.render(context)
    html = catalog.html.render(context)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if _BOUNDARY_LINE not in text and _BOUNDARY_LINE not in html:
        # A fixed boundary: the generator would draw one and compile a regex to check it
        # for every mail (a tenth of the work); this header is then a constant one.
        msg.replace_header("Content-Type", _ALTERNATIVE)
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    return msg
