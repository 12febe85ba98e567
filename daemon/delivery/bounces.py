"""Hard bounces feed the suppression list: refused at SMTP time, or reported later by a DSN.

A relay refuses a dead address either while we talk to it (a 5xx to RCPT TO or DATA, raised
as `MailPermanentError`) or later, in a delivery status notification (RFC 3464) sent to the
envelope sender (`mail.bounce_address`), which an MTA delivers into `mail.bounce_maildir`.

Only failures that say the *address* is gone suppress it: bad mailbox or domain (5.1.x), a
disabled mailbox (5.2.0, 5.2.1), no route to the domain (5.4.4). A full mailbox, a message too
big, or a policy refusal (5.7.x: spam filter, DMARC) says more about the message or our own
domain's set-up than about the person, and suppressing on it could silence a whole domain
over one misconfiguration; those, and every 4.x.x (soft) bounce, change nothing.

A DSN counts only when it quotes the Message-ID of a mail we sent (see message_ids): the id
names the send, and the random part must equal what the store recorded, so a forged report
cannot suppress anyone. The Maildir is read from `new/`; each file is moved to `cur/`,
marked Seen when handled, or left unseen and Flagged for a person to read when it was not
understood. Nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from pathlib import Path

from closedloop.daemon.delivery.message_ids import send_id_of
from closedloop.daemon.delivery.smtp import MailPermanentError
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store

HARD_BOUNCE = "hard_bounce"  # the suppression reason
MAX_REPORT_BYTES = 5_000_000  # a bounce report is small; anything bigger is left for a person

_SENDER_SIDE = {"5.1.7", "5.1.8"}  # the *sender's* address is bad: our problem, not theirs
_MAILBOX_GONE = {"5.2.0", "5.2.1", "5.4.4"}
_RCPT_CODES = {550, 551, 553}  # RCPT TO refusals that name the mailbox, for bare replies

log = get_logger(component="bounces")


def is_hard_status(status: str | None) -> bool:
    """True when an RFC 3463 status ("5.1.1") says the address itself cannot take mail."""
    code = (status or "").strip().split(" ", 1)[0]
    parts = code.split(".")
    if len(parts) != 3 or parts[0] != "5":
        return False
    if parts[1] == "1":
        return code not in _SENDER_SIDE
    return code in _MAILBOX_GONE


def is_hard_rejection(error: MailPermanentError) -> bool:
    """True when the relay refused, at SMTP time, because the recipient address is dead.

    A refusal of our sender (MAIL FROM) or one raised before talking to the relay is never
    the recipient's fault. A bare reply without an enhanced code counts only at RCPT TO, and
    only for the codes that name the mailbox (550, 551, 553).
    """
    if error.stage not in ("rcpt", "data"):
        return False
    if error.enhanced is not None:
        return is_hard_status(error.enhanced)
    return error.stage == "rcpt" and error.code in _RCPT_CODES


def suppress_hard_bounce(store: Store, email: str, error: MailPermanentError,
                         now: datetime) -> bool:
    """Dispatch calls this on MailPermanentError: suppress `email` if it is a hard bounce."""
    if not is_hard_rejection(error):
        return False
    store.suppress(email, HARD_BOUNCE, now)
    return True


# -- delivery status notifications ------------------------------------------------------------


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # e.g. "5.1.1"

    @property
    def hard(self) -> bool:
        return self.action == "failed" and is_hard_status(self.status)


@dataclass(frozen=True)
class Dsn:
    """What a delivery status notification says, reduced to what we act on."""

    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]

    @property
    def hard(self) -> bool:
        return any(r.hard for r in self.recipients)


def parse_dsn(raw: bytes) -> Dsn | None:
    """Read an RFC 3464 report (multipart/report; report-type=delivery-status); None if not one.

    compat32 parsing, because it never raises on the malformed headers real bounces carry.
    """
    msg = message_from_bytes(raw, policy=compat32)
    if msg.get_content_type() != "multipart/report" or not msg.is_multipart():
        return None
    if str(msg.get_param("report-type", "")).lower() not in ("delivery-status",
                                                             "global-delivery-status"):
        return None
    recipients: list[RecipientStatus] = []
    original: str | None = None
    found_status = False
    for part in msg.get_payload():
        if not isinstance(part, Message):
            continue
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            found_status = True
            recipients.extend(_recipient_statuses(_blocks(part)))
        elif kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = inner[0].get("Message-ID")
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            original = _header_block(part).get("Message-ID")
    if not found_status:
        return None
    return Dsn(str(original).strip() if original else None, tuple(recipients))


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part (per-message first, then per-recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package splits message/delivery-status itself
        return [block for block in payload if isinstance(block, Message)]
    body = part.get_payload(decode=True)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(payload)
    chunks = text.replace("\r\n", "\n").split("\n\n")
    return [HeaderParser(policy=compat32).parsestr(chunk) for chunk in chunks if chunk.strip()]


def _header_block(part: Message) -> Message:
    body = part.get_payload(decode=True)
    raw = body if isinstance(body, bytes) else str(part.get_payload()).encode("utf-8", "replace")
    return BytesHeaderParser(policy=compat32).parsebytes(raw)


def _recipient_statuses(blocks: list[Message]) -> list[RecipientStatus]:
    found = []
    for block in blocks[1:]:  # the first block is about the message, not a recipient
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        if action:
            found.append(RecipientStatus(action, status.split(None, 1)[0] if status else ""))
    return found


# -- the job ----------------------------------------------------------------------------------


@dataclass
class BounceResult:
    """What one run did with the reports waiting in the Maildir."""

    read: int = 0
    suppressed: int = 0  # hard bounces of our mails: the address is now suppressed
    ignored: int = 0  # understood, nothing to do: soft, delayed, delivered, policy refusals
    unrecognized: int = 0  # not a DSN, or not about a mail of ours: flagged for a person
    reasons: dict[str, int] = field(default_factory=dict)  # unrecognized, by why


def process_bounces(store: Store, maildir: Path, now: datetime) -> BounceResult:
    """Read every new report in `maildir`, suppress hard-bounced addresses, file each report.

    Restart-safe: a report is moved only after its suppression is stored, so a crash in
    between reads it again, and suppressing twice changes nothing. Two replicas racing on one
    file: the second rename fails and that one skips it.
    """
    result = BounceResult()
    new = maildir / "new"
    if not new.is_dir():
        log.warning("bounces.no_maildir", maildir=str(maildir))
        return result
    (maildir / "cur").mkdir(exist_ok=True)
    for path in sorted(new.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        verdict = _handle(store, path, now)
        if verdict is None:
            continue  # another replica took it
        result.read += 1
        if verdict in ("suppressed", "ignored"):
            setattr(result, verdict, getattr(result, verdict) + 1)
            _file(maildir, path, "S")
        else:
            result.unrecognized += 1
            result.reasons[verdict] = result.reasons.get(verdict, 0) + 1
            _file(maildir, path, "F")
    if result.read:
        log.info("bounces.done", read=result.read, suppressed=result.suppressed,
                 ignored=result.ignored, unrecognized=result.unrecognized,
                 **{f"unrecognized_{k}": v for k, v in result.reasons.items()})
    return result


def _handle(store: Store, path: Path, now: datetime) -> str | None:
    """"suppressed", "ignored", why the report was not understood, or None if it is gone."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return "too_large"
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    dsn = parse_dsn(raw)
    if dsn is None:
        return "not_a_dsn"
    send_id = send_id_of(dsn.original_message_id)
    send = store.get_send(send_id) if send_id is not None else None
    if send is None or send.message_id is None or send.message_id != dsn.original_message_id:
        return "not_ours"
    if not dsn.hard or not send.email:
        return "ignored"
    store.suppress(send.email, HARD_BOUNCE, now)
    status = next(r.status for r in dsn.recipients if r.hard)
    log.info("bounces.hard", send_id=send.id, program=send.program, status=status)
    return "suppressed"


def _file(maildir: Path, path: Path, flag: str) -> None:
    """Move a report from new/ to cur/ with a Maildir info flag (S = seen, F = flagged)."""
    base = path.name.split(":", 1)[0]
    with contextlib.suppress(FileNotFoundError):  # another replica filed it first
        os.replace(path, maildir / "cur" / f"{base}:2,{flag}")
