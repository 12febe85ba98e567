"""Survey mails written from templates prepared once per program, language and shape.

Rendering two Jinja templates, setting a dozen headers through the email package and
quoted-printable encoding both bodies in Python cost ~1.2 ms of CPU per mail, most of what
dispatch spends. Yet only a few values change from one mail to the next: the first name, the
intro and the question (a program's text may hold the first name), the request the mail is
about, the answer token in every score link and the unsubscribe link. So the templates are
rendered once per (program, language, public URL, sender, shape) with a unique placeholder for
each of those values and cut at the placeholders; a mail joins the pieces with its own values,
escaped in the HTML part as Jinja's autoescape escapes them (`markupsafe.escape`, which is what
both `{{ value }}` and `_("…%(name)s", name=value)` apply), and writes its bytes directly:

- headers folded as the SMTP policy folds them: a plain ASCII value that fits on its line is
  written as is, anything else (non-ASCII, long, unusual) by the stdlib itself;
- bodies in the transfer encoding the email package chooses (7bit, 8bit, quoted-printable or
  base64, by its own rule), the constant lines encoded once (transfer.py).

A template may only escape these values: one that filters a value (`|truncate`, `|title`)
would make the prepared mail differ from Jinja's; a placeholder a filter changed is caught
(the email package then writes that template's mails), a filter that keeps it is not — the
equivalence tests (tests/delivery/test_delivery_prepared_equal.py) are what catch it.

The bytes are the email package's own (tests compare them byte for byte across survey types,
languages, reminders and hostile values), and the result is still an EmailMessage (wire.py's
PreparedMail) holding what the email package would hold, for every reader.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from markupsafe import escape

from closedloop.daemon.delivery.mime import ALTERNATIVE, BOUNDARY, BOUNDARY_LINE, POLICY, Sender
from closedloop.daemon.delivery.transfer import Lines, cut_lines, encode_lines, format_string
from closedloop.daemon.delivery.wire import CRLF, PreparedMail
from closedloop.daemon.surveys import Program

# The per-mail values, in this order (a template piece that is an int is one of them).
NAME, INTRO, ABOUT, QUESTION, TOKEN, UNSUBSCRIBE = range(6)
Values = tuple[str, str, str, str, str, str]
_NONCE = secrets.token_hex(8)  # no configured or catalog text can hold a placeholder
_SLOT = re.compile(f"\x1a{_NONCE}([0-5])\x1a")
_MAX = POLICY.max_line_length or 78
_MEMO_LIMIT = 4096  # distinct values kept per memo; past it the memo starts over
_TEMPLATE_LIMIT = 2048  # programs x languages x shapes x senders; past it the oldest goes
_BASE64_WORD = re.compile(rb"=\?[^?]*\?[bB]\?")
_Entry = tuple[str, Any]  # a header as EmailMessage holds it: (name, value or header object)
_Head = tuple[tuple[_Entry, ...], bytes]  # header entries and their folded bytes


def placeholder(slot: int) -> str:
    """What a template is rendered with in place of value `slot`: passes through Jinja's
    escaping and %-formatting unchanged."""
    return f"\x1a{_NONCE}{slot}\x1a"


@dataclass(frozen=True)
class Shape:
    """What changes the templates' structure rather than a value in them."""

    first_name: bool
    intro: bool
    unsubscribe: bool


@dataclass(frozen=True)
class Template:
    """One program's mail in one language and shape, cut at its values."""

    program: Program
    text: str  # str.format templates of the parts (transfer.format_string)
    html: str
    text_lines: Lines | None  # the same, in lines for the transfer encoding (transfer.py)
    html_lines: Lines | None
    sender: _Head  # From, between Subject and To
    reply: _Head  # Reply-To (when set), after To
    auto: _Head  # Auto-Submitted, X-Auto-Response-Suppress
    tail: _Head  # List-Unsubscribe-Post, MIME-Version, Content-Type, Content-Language
    usable: bool  # False: a placeholder came out changed (a filter); the email package writes


_TEMPLATES: dict[tuple[str, str, str, Sender, Shape], Template] = {}


def _constant(*headers: tuple[str, Any]) -> _Head:
    """Headers parsed and folded by the (memoizing) policy, as EmailMessage would."""
    entries = tuple(POLICY.header_store_parse(name, value) for name, value in headers)
    return entries, b"".join(POLICY.fold_binary(name, value) for name, value in entries)


def _cut(rendered: str) -> tuple[str | int, ...]:
    pieces = _SLOT.split(rendered)
    return tuple(int(piece) if odd else piece for odd, piece in
                 ((index % 2 == 1, piece) for index, piece in enumerate(pieces)) if odd or piece)


def template(program: Program, language: str, public_url: str, sender: Sender, shape: Shape,
             render: Callable[[Values, Shape], tuple[str, str]]) -> Template:
    """The prepared mail, built on first use (`render` renders both parts for some values).
    Checked by the program's identity like compose's catalog: a reloaded config rebuilds."""
    key = (program.name, language, public_url, sender, shape)
    found = _TEMPLATES.get(key)
    if found is not None and found.program is program:
        return found
    marks = tuple(placeholder(slot) for slot in range(6))
    text, html = render((marks[0], marks[1], marks[2], marks[3], marks[4], marks[5]), shape)
    reply = (("Reply-To", sender.reply_to),) if sender.reply_to else ()
    post = (("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),) if shape.unsubscribe else ()
    text_pieces, html_pieces = _cut(text), _cut(html)
    usable = not any("\x1a" in piece for piece in (*text_pieces, *html_pieces)
                     if isinstance(piece, str))
    built = Template(
        program, format_string(text_pieces), format_string(html_pieces),
        cut_lines(text_pieces), cut_lines(html_pieces),
        _constant(("From", sender.from_address())), _constant(*reply),
        _constant(("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")),
        _constant(*post, ("MIME-Version", "1.0"), ("Content-Type", ALTERNATIVE),
                  ("Content-Language", language)),
        usable,
    )
    _TEMPLATES.pop(key, None)  # a reloaded program's entry goes to the back
    if len(_TEMPLATES) >= _TEMPLATE_LIMIT:
        del _TEMPLATES[next(iter(_TEMPLATES))]  # the oldest built, not every one
    _TEMPLATES[key] = built
    return built


# --- headers ----------------------------------------------------------------------------------

_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII words, single spaces
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                      r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9.]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")
_URL = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_SUBJECTS: dict[str, tuple[_Entry, bytes]] = {}


class _ParsedWhenRead(str):
    """A header's text that becomes the stdlib's header object (parsed as EmailMessage parses
    a header it holds as text) only when more than the text is asked of it: `addresses`,
    `fold`, `defects`... The SMTP session and the mail channel read only the text of To
    and Message-ID, which cost a parse each, a third of a prepared mail."""

    name: str

    def __new__(cls, name: str, value: str) -> _ParsedWhenRead:
        self = super().__new__(cls, value)
        self.name = name
        return self

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # copy, pickle
        return self.name, str(self)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        parsed = self.__dict__.get("_parsed")
        if parsed is None:
            parsed = self.__dict__["_parsed"] = POLICY.header_factory(self.name, str(self))
        return getattr(parsed, attr)


def _stdlib(name: str, value: str) -> tuple[_Entry, bytes]:
    entry = POLICY.header_store_parse(name, value)
    return entry, POLICY.fold_binary(*entry)


def _header(name: str, value: str, plain: re.Pattern[str],
            lazy: bool = False) -> tuple[_Entry, bytes]:
    """A value of `plain`'s form that fits on its line is written as is (the policy's fold
    of it, tests check); any other goes through the stdlib. The entry holds the value as
    given, which EmailMessage parses when it is read (or `lazy`: when more than its text
    is read), to what storing it would have made."""
    if _fits(name, value, plain):
        return ((name, _ParsedWhenRead(name, value) if lazy else value),
                f"{name}: {value}".encode("ascii") + CRLF)
    return _stdlib(name, value)


def _fits(name: str, value: str, plain: re.Pattern[str]) -> bool:
    return len(name) + 2 + len(value) <= _MAX and "=?" not in value \
        and plain.fullmatch(value) is not None


def _subject(value: str, name: str) -> tuple[_Entry, bytes]:
    """Subjects repeat (one per program and language without a first name): each distinct
    one is written once. One that differs only by an ASCII first name is the fold of the
    same subject with the name's letters masked, the name put back: the fold depends on the
    name's length and kind of characters only (letters and digits are alike to the parser and
    written as they are in an encoded word), and a name the fold would cut is not put back."""
    found = _SUBJECTS.get(value)
    if found is None:
        if name and not _fits("Subject", value, _PLAIN) and _ALNUM.fullmatch(name) \
                and value.count(name) == 1:
            found = _masked(value, name)
        if found is None:
            found = _header("Subject", value, _PLAIN)  # as is, or the stdlib's
        if len(_SUBJECTS) >= _MEMO_LIMIT:
            _SUBJECTS.clear()
        _SUBJECTS[value] = found
    return found


def _masked(value: str, name: str) -> tuple[_Entry, bytes] | None:
    """None unless the only x's of the folded masked subject are the mask, whole: then no
    x of the subject's own, of a base64 encoded word or of a cut mask can be taken for it."""
    if "x" in value.replace(name, "") or "=?" in value:
        return None
    mask = b"x" * len(name)
    folded = _subject(value.replace(name, mask.decode()), "")[1]
    if folded.count(b"x") != len(mask) or mask not in folded \
            or not folded.startswith(b"Subject: ") or _BASE64_WORD.search(folded):
        # In a base64 encoded word an x is no letter of the subject: the mask cannot be
        # told apart from the encoding's own x's (nor put back without breaking it).
        return None
    # The entry holds the subject as given, parsed only if more than its text is read (a
    # parser's folded text would read back with a space doubled where the fold ends a line
    # in one: "part \r\n =?utf-8?q?d=E2=80=99Acme?=" is "part  d’Acme").
    return ("Subject", _ParsedWhenRead("Subject", value)), folded.replace(mask, name.encode())


def _date(when: datetime) -> tuple[_Entry, bytes]:
    """`format_datetime(when)`: the Date header re-formats the date it parses, the same text
    for a year of four digits and an offset in whole minutes; any other through the stdlib."""
    value = format_datetime(when)
    offset = when.utcoffset()
    if when.year >= 1900 and (offset is None or (offset.seconds % 60 == 0
                              and not offset.microseconds)):
        return ("Date", value), b"Date: " + value.encode("ascii") + CRLF
    return _stdlib("Date", value)


def _list_unsubscribe(url: str) -> tuple[_Entry, bytes]:
    """`<url>`: on the header's line when it fits, else alone on the next (as the policy
    folds one long word); any other URL through the stdlib."""
    value = f"<{url}>"
    if "=?" not in url and _URL.fullmatch(url):
        if len(value) + 18 <= _MAX:
            return ("List-Unsubscribe", value), b"List-Unsubscribe: " + value.encode() + CRLF
        if len(value) + 1 <= _MAX:
            return ("List-Unsubscribe", value), b"List-Unsubscribe:\r\n " + value.encode() + CRLF
    return _stdlib("List-Unsubscribe", value)


# --- bodies -----------------------------------------------------------------------------------

_BOUNDARY_BYTES = BOUNDARY.encode("ascii")
_PART_HEADS: dict[tuple[str, str], _Head] = {}


def _part(subtype: str, body: str, lines: Lines | None,
          values: Values) -> tuple[EmailMessage, bytes]:
    cte, payload = encode_lines(lines, body, values)
    head = _PART_HEADS.get((subtype, cte))
    if head is None:
        # add_alternative's part gets its own MIME-Version (EmailMessage.set_content adds it);
        # the first part was the message's content, moved, and leaves it on the message.
        version = (("MIME-Version", "1.0"),) if subtype == "html" else ()
        head = _PART_HEADS[(subtype, cte)] = _constant(
            ("Content-Type", f'text/{subtype}; charset="utf-8"'),
            ("Content-Transfer-Encoding", cte), *version)
    part = EmailMessage(policy=POLICY)
    for name, value in head[0]:
        part.set_raw(name, value)
    part.set_payload(payload)
    raw = payload.encode("ascii", "surrogateescape").replace(b"\n", CRLF)
    return part, head[1] + CRLF + raw


def build(prepared: Template, values: Values, *, subject: str, subject_name: str, to: str,
          date: datetime, message_id: str, unsubscribe_url: str | None) -> PreparedMail | None:
    """The mail for `values`, or None when a body holds the shared boundary (the email
    package then writes it with a boundary of its own) or the template is not usable.
    `subject_name` is the first name as it stands in `subject` ("" for none)."""
    if not prepared.usable:
        return None
    escaped: Values = (
        str(escape(values[0])), str(escape(values[1])), str(escape(values[2])),
        str(escape(values[3])), str(escape(values[4])), str(escape(values[5])))
    text = prepared.text.format(*values)
    html = prepared.html.format(*escaped)
    if BOUNDARY_LINE in text or BOUNDARY_LINE in html:
        return None
    plain, plain_raw = _part("plain", text, prepared.text_lines, values)
    rich, rich_raw = _part("html", html, prepared.html_lines, escaped)
    entry_subject, raw_subject = _subject(subject, subject_name)
    entry_to, raw_to = _header("To", to, _ADDRESS, lazy=True)
    entry_date, raw_date = _date(date)
    entry_id, raw_id = _header("Message-ID", message_id, _MESSAGE_ID, lazy=True)
    unsubscribe = _list_unsubscribe(unsubscribe_url) if unsubscribe_url else None
    msg = PreparedMail(policy=POLICY)
    entries = [entry_subject, *prepared.sender[0], entry_to, *prepared.reply[0], entry_date,
               entry_id, *prepared.auto[0]]
    if unsubscribe is not None:
        entries.append(unsubscribe[0])
    entries.extend(prepared.tail[0])
    for name, value in entries:
        msg.set_raw(name, value)
    msg.set_payload([plain, rich])
    boundary = _BOUNDARY_BYTES
    msg.seal(b"".join((
        raw_subject, prepared.sender[1], raw_to, prepared.reply[1], raw_date, raw_id,
        prepared.auto[1], unsubscribe[1] if unsubscribe else b"", prepared.tail[1], CRLF,
        b"--", boundary, CRLF, plain_raw, CRLF, b"--", boundary, CRLF,
        rich_raw, CRLF, b"--", boundary, b"--", CRLF)))
    return msg
