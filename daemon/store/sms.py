"""The SMS channel's rows: a message's short-link code, Twilio SID, segments and delivery
status (sms_messages), and the inbound replies (sms_replies), each kept once.

Plain functions over the store's engine (not a Store mixin): the SMS channel, its webhook and
`status` are their only callers. The outbox moves themselves (claim, sending, sent,
outcome_unknown) are the outbox's, shared with mail (store/sends.py, store/outcomes.py).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, delete, func, select, update

from closedloop.daemon.store.engine import reading
from closedloop.daemon.store.records import SendRecord, from_db_opt, send_record, to_db
from closedloop.daemon.store.sends import SENDS, chunks, insert_for
from closedloop.daemon.store.tables import Base

SMS_MESSAGES: Table = Base.metadata.tables["sms_messages"]
SMS_REPLIES: Table = Base.metadata.tables["sms_replies"]
CODE_LENGTH = 10  # 62^10 ≈ 8e17 codes: not guessable, and the link stays short
_ALPHABET = string.ascii_letters + string.digits
_ANSWERABLE = ("sent", "outcome_unknown", "awaiting_reply")  # an SMS that may have arrived


def new_code() -> str:
    """A random short-link code (the link's only secret part: never derived from the id)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class ShortLink:
    """What /s/<code> leads to: the survey (a reminder's own) and when it was sent (dates
    its token, so a reminder's link expires with its survey's, as in mail)."""

    send_id: int
    sent_at: datetime | None


def prepare_message(engine: Engine, send_id: int, phone: str, segments: int, encoding: str,
                    now: datetime) -> str:
    """The row of an SMS about to be sent; returns its short-link code.

    A second try of the same send keeps the code it was first given, so a link already
    composed never changes."""
    with engine.begin() as conn:
        code = conn.scalar(select(SMS_MESSAGES.c.code).where(SMS_MESSAGES.c.send_id == send_id))
        if code is not None:
            conn.execute(update(SMS_MESSAGES).where(SMS_MESSAGES.c.send_id == send_id)
                         .values(phone=phone, segments=segments, encoding=encoding,
                                 updated_at=to_db(now)))
            return str(code)
        code = new_code()
        conn.execute(SMS_MESSAGES.insert().values(
            send_id=send_id, code=code, phone=phone, segments=segments, encoding=encoding,
            created_at=to_db(now), updated_at=to_db(now)))
        return code


def set_sid(engine: Engine, send_id: int, sid: str, status: str | None,
            now: datetime) -> None:
    """Twilio took the message: remember its SID (status callbacks name it)."""
    with engine.begin() as conn:
        conn.execute(update(SMS_MESSAGES).where(SMS_MESSAGES.c.send_id == send_id)
                     .values(sid=sid, delivery_status=status, updated_at=to_db(now)))


def code_of(engine: Engine, send_id: int) -> str | None:
    """The short-link code of a survey's SMS, or None."""
    with reading(engine) as conn:
        code = conn.scalar(select(SMS_MESSAGES.c.code).where(SMS_MESSAGES.c.send_id == send_id))
    return None if code is None else str(code)


def short_link(engine: Engine, code: str) -> ShortLink | None:
    """The survey behind a short-link code, or None for an unknown one."""
    with reading(engine) as conn:
        row = conn.execute(
            select(SENDS.c.id, SENDS.c.parent_id, SENDS.c.sent_at)
            .join(SMS_MESSAGES, SENDS.c.id == SMS_MESSAGES.c.send_id)
            .where(SMS_MESSAGES.c.code == code)).first()
        if row is not None and row.parent_id is not None:  # a reminder: its survey's link
            row = conn.execute(select(SENDS.c.id, SENDS.c.parent_id, SENDS.c.sent_at)
                               .where(SENDS.c.id == row.parent_id)).first()
    return None if row is None else ShortLink(row.id, from_db_opt(row.sent_at))


def record_delivery(engine: Engine, sid: str, status: str, error_code: str | None,
                    now: datetime) -> bool:
    """A status callback: the message's latest delivery status; False for an unknown SID."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(SMS_MESSAGES).where(SMS_MESSAGES.c.sid == sid)
            .values(delivery_status=status, error_code=error_code, updated_at=to_db(now)))
    return changed.rowcount > 0


def latest_sms_survey(engine: Engine, phone: str) -> SendRecord | None:
    """The survey whose SMS this number got last (a reply answers it), or None."""
    with reading(engine) as conn:
        row = conn.execute(
            select(SENDS).where(SENDS.c.channel == "sms", SENDS.c.phone == phone,
                                SENDS.c.kind == "survey", SENDS.c.status.in_(_ANSWERABLE))
            .order_by(SENDS.c.sent_at.desc(), SENDS.c.id.desc()).limit(1)).mappings().first()
    return None if row is None else send_record(row)


def record_reply(engine: Engine, sid: str, phone: str, send_id: int | None, outcome: str,
                 body: str | None, now: datetime) -> bool:
    """Keep an inbound text once per MessageSid; False when it was already kept (a retry)."""
    with engine.begin() as conn:
        stmt = insert_for(conn, SMS_REPLIES).values(
            sid=sid, phone=phone, send_id=send_id, outcome=outcome, body=body,
            received_at=to_db(now)).on_conflict_do_nothing(index_elements=["sid"])
        return conn.execute(stmt).rowcount == 1


def forget_sms(conn: Connection, send_ids: Sequence[int], phones: Sequence[str]) -> int:
    """`forget`: drop the person's replies (they may quote them) and blank the numbers kept
    with their texts; the codes stay (a link then leads to a scrubbed survey). Returns the
    replies dropped."""
    dropped = 0
    for part in chunks(list(send_ids)):
        dropped += conn.execute(delete(SMS_REPLIES).where(SMS_REPLIES.c.send_id.in_(part))
                                ).rowcount
        conn.execute(update(SMS_MESSAGES).where(SMS_MESSAGES.c.send_id.in_(part))
                     .values(phone=""))
    for numbers in chunks(sorted(set(phones))):
        dropped += conn.execute(delete(SMS_REPLIES).where(SMS_REPLIES.c.phone.in_(numbers))
                                ).rowcount
    return dropped


def sms_counts(conn: Connection) -> dict[str, int]:
    """For `closedloop status`: SMS surveys sent (and unknown), the segments they cost,
    delivery statuses from the callbacks, and replies by what they meant; nothing at all
    while no text was ever sent (a mail-only deployment's status is unchanged)."""
    sent = ("sent", "outcome_unknown")
    result: dict[str, int] = {"sms.sent": 0, "sms.outcome_unknown": 0, "sms.segments_sent": 0}
    for status, count, segments in conn.execute(
            select(SENDS.c.status, func.count(),
                   func.coalesce(func.sum(SMS_MESSAGES.c.segments), 0))
            .join(SMS_MESSAGES, SMS_MESSAGES.c.send_id == SENDS.c.id)
            .where(SENDS.c.status.in_(sent)).group_by(SENDS.c.status)):
        result[f"sms.{status}"] = int(count)
        result["sms.segments_sent"] += int(segments)
    for status, count in conn.execute(
            select(SMS_MESSAGES.c.delivery_status, func.count())
            .where(SMS_MESSAGES.c.delivery_status.is_not(None))
            .group_by(SMS_MESSAGES.c.delivery_status)):
        result[f"sms.delivery.{status}"] = int(count)
    for outcome, count in conn.execute(
            select(SMS_REPLIES.c.outcome, func.count()).group_by(SMS_REPLIES.c.outcome)):
        result[f"sms.replies.{outcome}"] = int(count)
    return result if any(result.values()) else {}
