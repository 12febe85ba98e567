"""What an inbound text means, and what it records: a score (+ comment), a stop, or nothing.

Read as people write them: "9", "9 great service", "9: fast and kind", "10!" are a score and
an optional comment for the person's latest SMS survey; the whole text being an opt-out
word in one of the shipped languages (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT,
ARRET, STOPP, ALTO, BAJA, AVSLUTT, ...) unsubscribes: the survey's person is suppressed as
the unsubscribe page would (the same suppression table, so e-mail stops too, and the CRM
is told), and the number itself is suppressed. START (UNSTOP, YES), Twilio's opt-in words,
undo that: the number's suppression is lifted and a person unsubscribed is subscribed again
(the CRM is told); a bounce or a snooze stays. Anything else is kept (sms_replies) and
answered politely; it records nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from closedloop.daemon.channels.phones import masked
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import SendRecord, Store
from closedloop.daemon.store.preferences import Preference
from closedloop.daemon.store.sms import latest_sms_survey, record_reply
from closedloop.daemon.surveys import Program, category

# Twilio's own opt-out words (it blocks the number itself and answers them), and the same
# in French, German, Norwegian and Spanish, which Twilio does not know.
TWILIO_STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                         "REVOKE", "OPTOUT"})
STOP_WORDS = TWILIO_STOP | frozenset({
    "ARRET", "ARRETER", "DESABONNER", "STOPP", "ABMELDEN", "AVMELD", "AVSLUTT", "ALTO",
    "BAJA", "PARAR", "CANCELAR"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
_SCORE = re.compile(r"^\s*(\d{1,2})(?:\s*/\s*\d{1,2})?(?:[\s,.;:!)\-–]+(.*))?$", re.DOTALL)
MAX_COMMENT = 5_000
SUBSCRIBED = Preference(unsubscribed=False, snoozed_until=None)

SCORE, COMMENT, STOP, START, UNPARSED, NO_SURVEY, EXPIRED = (
    "score", "comment", "stop", "start", "unparsed", "no_survey", "expired")

log = get_logger(component="sms")


@dataclass(frozen=True)
class Reply:
    """What a text did: its outcome, the survey it answered, the score it gave."""

    outcome: str
    send: SendRecord | None = None
    score: int | None = None
    repeated: bool = False  # the same MessageSid again (Twilio retried): nothing redone


def keyword(body: str) -> str:
    """"ARRET" from " Arrêt. ": upper case, accents and end punctuation gone."""
    text = unicodedata.normalize("NFKD", body.strip().upper())
    return "".join(c for c in text if not unicodedata.combining(c)).strip(" .!?")


def parse_score(body: str, program: Program) -> tuple[int, str | None] | None:
    """(score, comment or None) when the text starts with a score on the program's scale."""
    found = _SCORE.match(body)
    if found is None:
        return None
    score = int(found.group(1))
    if score not in program.scale:
        return None
    comment = (found.group(2) or "").strip()[:MAX_COMMENT]
    return score, comment or None


def handle_reply(store: Store, programs: dict[str, Program], *, sid: str, phone: str,
                 body: str, now: datetime, max_age: timedelta) -> Reply:
    """Record what the text `body` from `phone` means (once per Twilio `sid`)."""
    send = latest_sms_survey(store.engine, phone)
    word = keyword(body)
    if word in STOP_WORDS:
        reply = Reply(STOP, send)
    elif word in START_WORDS:
        reply = Reply(START, send)
    elif send is None or send.program not in programs:
        reply = Reply(NO_SURVEY)
    elif send.sent_at is not None and now > send.sent_at + max_age:
        reply = Reply(EXPIRED, send)
    else:
        parsed = parse_score(body, programs[send.program])
        reply = Reply(UNPARSED, send) if parsed is None else Reply(
            COMMENT if parsed[1] else SCORE, send, parsed[0])
    kept = body[:MAX_COMMENT] if reply.outcome in (UNPARSED, COMMENT, SCORE) else None
    if not record_reply(store.engine, sid, phone, send.id if send else None, reply.outcome,
                        kept, now):
        return Reply(reply.outcome, reply.send, reply.score, repeated=True)
    _apply(store, programs, reply, phone, body, now)
    log.info("sms.reply", outcome=reply.outcome, phone=masked(phone),
             send_id=send.id if send else None)
    return reply


def _apply(store: Store, programs: dict[str, Program], reply: Reply, phone: str, body: str,
           now: datetime) -> None:
    if reply.outcome == STOP:
        store.suppress(phone, "unsubscribed", now)
        if reply.send is not None:
            store.record_preference(reply.send.id, "unsubscribe", None, now)
        return
    if reply.outcome == START:
        store.lift_unsubscribe(phone)
        if reply.send is not None and store.preference_of(reply.send.id, now).unsubscribed:
            store.restore_preference(reply.send.id, SUBSCRIBED, now)
        return
    if reply.outcome not in (SCORE, COMMENT) or reply.send is None or reply.score is None:
        return
    program = programs[reply.send.program]
    store.record_response(reply.send.id, reply.score,
                          category(program.type, reply.score, program.threshold), now)
    parsed = parse_score(body, program)
    if parsed is not None and parsed[1]:
        store.record_comment(reply.send.id, parsed[1], now)
