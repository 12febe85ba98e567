"""Hard bounces suppress the address: refused over real SMTP, or reported by a DSN in a Maildir.

DSNs are built with the email package the way MTAs write them (RFC 3464 multipart/report) and
delivered into a real Maildir folder in tmp_path; the store is real (SQLite and PostgreSQL).
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from closedloop.daemon.delivery.bounces import (
    HARD_BOUNCE,
    is_hard_rejection,
    is_hard_status,
    parse_dsn,
    process_bounces,
    suppress_hard_bounce,
)
from closedloop.daemon.delivery.message_ids import make_message_id
from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import MailPermanentError, SmtpSender
from closedloop.daemon.store import NewSend, Store

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
ANA = "Ana@Example.com"


@pytest.fixture
def sink() -> Iterator[LocalMailSink]:
    with LocalMailSink() as mail:
        yield mail


def mail_to(address: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Acme <survey@acme.example>"
    msg["To"] = address
    msg["Message-ID"] = make_message_id(1, "acme.example")
    msg.set_content("How did we do?")
    return msg


def refusal(sink: LocalMailSink, reply: str, at: str = "rcpt") -> MailPermanentError:
    sink.refuse(ANA, reply, at=at)
    with pytest.raises(MailPermanentError) as caught:
        SmtpSender(sink.host, sink.port).send(mail_to(ANA))
    return caught.value


# -- refused while sending ----------------------------------------------------------------


def test_unknown_mailbox_at_rcpt_suppresses_the_address(store: Store,
                                                         sink: LocalMailSink) -> None:
    """550 5.1.1 to RCPT TO: a hard bounce; the address (any case) is suppressed for good."""
    error = refusal(sink, "550 5.1.1 <Ana@Example.com>: Recipient address rejected")
    assert (error.stage, error.code, error.enhanced) == ("rcpt", 550, "5.1.1")
    assert "Ana" not in str(error)  # the reply quotes the address; the log must not
    assert suppress_hard_bounce(store, ANA, error, NOW) is True
    assert store.is_suppressed("ana@example.com", NOW + timedelta(days=3650))


def test_unknown_mailbox_refused_only_after_data_suppresses(store: Store,
                                                            sink: LocalMailSink) -> None:
    """Relays that refuse recipients at the end of DATA: 554 5.1.1 still names the address."""
    error = refusal(sink, "554 5.1.1 Mailbox does not exist", at="data")
    assert (error.stage, error.enhanced) == ("data", "5.1.1")
    assert suppress_hard_bounce(store, ANA, error, NOW) is True
    assert store.is_suppressed(ANA, NOW)


@pytest.mark.parametrize(
    ("reply", "at"),
    [
        ("550 5.7.1 Message rejected as spam", "data"),  # about the message, not the person
        ("550 5.7.1 Relaying denied", "rcpt"),  # our relay set-up: would suppress everyone
        ("552 5.2.2 Mailbox full", "rcpt"),  # full today, maybe not tomorrow
        ("554 Transaction failed", "data"),  # no enhanced code, not at RCPT
        ("554 No thanks", "rcpt"),  # 554 is not one of the mailbox codes
    ],
)
def test_refusals_that_do_not_say_the_address_is_dead_suppress_nothing(
        store: Store, sink: LocalMailSink, reply: str, at: str) -> None:
    """Policy, content, quota and unexplained refusals fail the mail but keep the person."""
    error = refusal(sink, reply, at=at)
    assert suppress_hard_bounce(store, ANA, error, NOW) is False
    assert not store.is_suppressed(ANA, NOW)


def test_bare_550_at_rcpt_counts_as_hard(sink: LocalMailSink) -> None:
    """Old servers answer "550 User unknown" without an enhanced code."""
    assert is_hard_rejection(refusal(sink, "550 User unknown"))


def test_refused_sender_or_local_errors_are_never_the_recipients_fault() -> None:
    """A 5.1.1 about our MAIL FROM, or an error raised before the relay, suppresses nobody."""
    assert not is_hard_rejection(MailPermanentError("x", 550, stage="mail", enhanced="5.1.1"))
    assert not is_hard_rejection(MailPermanentError("x", 553))


@pytest.mark.parametrize(
    ("status", "hard"),
    [("5.1.1", True), ("5.1.2", True), ("5.1.10", True), ("5.2.1", True), ("5.4.4", True),
     ("5.1.7", False), ("5.1.8", False), ("5.2.2", False), ("5.3.4", False),
     ("5.4.7", False), ("5.7.1", False), ("4.2.2", False), ("2.0.0", False), ("", False),
     ("5.1.1 (bad destination mailbox)", True), ("junk", False)],
)
def test_hard_status_table(status: str, hard: bool) -> None:
    """Address, mailbox-disabled and no-route codes are hard; sender-side, quota, size,
    expiry, policy and every 4.x.x are not."""
    assert is_hard_status(status) is hard


# -- DSNs in a Maildir --------------------------------------------------------------------


def sent(store: Store, email: str = ANA, key: str = "t1") -> tuple[int, str]:
    """A survey the store recorded as sent, with the Message-ID it went out with."""
    store.add_sends([NewSend(idem_key=key, program="nps", survey_type="nps", source="hubspot",
                             contact_id=f"c-{key}", due_at=NOW, created_at=NOW, email=email)])
    [row] = [r for r in store.claim_due_sends(NOW, 10, timedelta(minutes=5)) if r.idem_key == key]
    assert store.begin_sending(row.id, NOW)
    message_id = make_message_id(row.id, "acme.example")
    store.mark_sent(row.id, NOW, message_id)
    return row.id, message_id


def dsn(message_id: str | None, *, action: str = "failed", status: str = "5.1.1",
        recipient: str = ANA, original: str = "message") -> bytes:
    """A delivery status notification as an MTA writes it to the envelope sender."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.com>"
    report["To"] = "bounces@mail.acme.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("This is the mail system. Your message could not be delivered."))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.com"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; 550 {status} <{recipient}>: user unknown"
    status_part = MIMEBase("message", "delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    quoted = EmailMessage()
    quoted["From"] = "Acme <survey@acme.example>"
    quoted["To"] = recipient
    if message_id is not None:
        quoted["Message-ID"] = message_id
    if original == "message":
        quoted.set_content("How did we do?")
        report.attach(MIMEMessage(quoted))
    elif original == "headers":
        headers = "".join(f"{k}: {v}\n" for k, v in quoted.items())
        report.attach(MIMEText(headers, "rfc822-headers"))
    return report.as_bytes()


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    mailbox.Maildir(tmp_path / "bounces", create=True)
    return tmp_path / "bounces"


def deliver(maildir: Path, raw: bytes) -> str:
    """Deliver like an MTA: a file in new/. Returns its name."""
    return mailbox.Maildir(maildir, create=False).add(raw)


def filed(maildir: Path) -> dict[str, list[str]]:
    return {sub: sorted(p.name for p in (maildir / sub).iterdir()) for sub in ("new", "cur")}


def test_hard_dsn_suppresses_and_is_marked_seen(store: Store, maildir: Path) -> None:
    """failed 5.1.1 quoting our Message-ID: the send's address is suppressed, the report moves
    to cur/ marked Seen, with its bytes unchanged."""
    _, message_id = sent(store)
    raw = dsn(message_id)
    key = deliver(maildir, raw)
    result = process_bounces(store, maildir, NOW)
    assert (result.read, result.suppressed, result.ignored, result.unrecognized) == (1, 1, 0, 0)
    assert store.is_suppressed("ana@example.com", NOW)
    assert filed(maildir) == {"new": [], "cur": [f"{key}:2,S"]}
    assert (maildir / "cur" / f"{key}:2,S").read_bytes() == raw


def test_dsn_quoting_only_the_headers(store: Store, maildir: Path) -> None:
    """Many MTAs return text/rfc822-headers instead of the whole message; that is enough."""
    _, message_id = sent(store)
    deliver(maildir, dsn(message_id, original="headers"))
    assert process_bounces(store, maildir, NOW).suppressed == 1
    assert store.is_suppressed(ANA, NOW)


def test_bounced_reminder_suppresses_too(store: Store, maildir: Path) -> None:
    """A reminder's Message-ID names the reminder row; its bounce counts like the survey's."""
    survey_id, _ = sent(store)
    reminder = NewSend(idem_key="t1:reminder:1", program="nps", survey_type="nps",
                       source="hubspot", contact_id="c-t1", due_at=NOW, created_at=NOW,
                       email=ANA, kind="reminder", parent_id=survey_id, reminder_no=1)
    store.add_sends([reminder])
    [row] = store.claim_due_sends(NOW, 10, timedelta(minutes=5))
    assert store.begin_sending(row.id, NOW)
    message_id = make_message_id(row.id, "acme.example")
    store.mark_sent(row.id, NOW, message_id)
    deliver(maildir, dsn(message_id))
    assert process_bounces(store, maildir, NOW).suppressed == 1
    assert store.is_suppressed(ANA, NOW)


@pytest.mark.parametrize(
    ("action", "status"),
    [("delayed", "4.4.7"), ("failed", "4.2.2"), ("failed", "5.7.1"), ("delivered", "2.0.0")],
)
def test_soft_or_policy_reports_change_nothing(store: Store, maildir: Path, action: str,
                                               status: str) -> None:
    """Delays, soft failures, policy refusals and delivery receipts are read and filed."""
    _, message_id = sent(store)
    key = deliver(maildir, dsn(message_id, action=action, status=status))
    result = process_bounces(store, maildir, NOW)
    assert (result.suppressed, result.ignored) == (0, 1)
    assert not store.is_suppressed(ANA, NOW)
    assert filed(maildir) == {"new": [], "cur": [f"{key}:2,S"]}


def test_forged_report_naming_a_real_send_suppresses_nobody(store: Store,
                                                            maildir: Path) -> None:
    """The right send id with a guessed random part does not match what the store kept: the
    report is kept, unseen and flagged, for a person to look at."""
    send_id, _ = sent(store)
    key = deliver(maildir, dsn(f"<cl.{send_id}.0123456789abcdef@acme.example>"))
    result = process_bounces(store, maildir, NOW)
    assert (result.suppressed, result.unrecognized, result.reasons) == (0, 1, {"not_ours": 1})
    assert not store.is_suppressed(ANA, NOW)
    assert filed(maildir) == {"new": [], "cur": [f"{key}:2,F"]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"From: bob@example.com\nSubject: Out of office\n\nBack on Monday.\n", "not_a_dsn"),
        (None, "not_ours"),  # a DSN about a mail someone else sent
    ],
)
def test_what_it_does_not_understand_is_kept_intact_and_flagged(
        store: Store, maildir: Path, raw: bytes | None, reason: str) -> None:
    """Auto-replies and foreign bounces are never deleted: moved to cur/, flagged, unchanged."""
    data = raw if raw is not None else dsn("<20261118.abc@other.example>")
    key = deliver(maildir, data)
    result = process_bounces(store, maildir, NOW)
    assert (result.read, result.unrecognized, result.reasons) == (1, 1, {reason: 1})
    assert (maildir / "cur" / f"{key}:2,F").read_bytes() == data


def test_second_run_reads_nothing_and_changes_nothing(store: Store, maildir: Path) -> None:
    """Filed reports are not read again; a new one is."""
    _, first = sent(store)
    _, second = sent(store, "bob@example.com", key="t2")
    deliver(maildir, dsn(first))
    assert process_bounces(store, maildir, NOW).read == 1
    assert process_bounces(store, maildir, NOW).read == 0
    deliver(maildir, dsn(second, recipient="bob@example.com"))
    assert process_bounces(store, maildir, NOW).suppressed == 1
    assert store.is_suppressed("bob@example.com", NOW)


def test_missing_maildir_is_an_empty_run(store: Store, tmp_path: Path) -> None:
    """Configured but not created yet (no bounce arrived): nothing to do, no error."""
    assert process_bounces(store, tmp_path / "nowhere", NOW).read == 0


def test_parse_dsn_reads_the_per_recipient_fields() -> None:
    """Action and Status come from the per-recipient block, the Message-ID from the quote."""
    parsed = parse_dsn(dsn("<m@acme.example>", status="5.1.1 (bad destination mailbox)"))
    assert parsed is not None
    assert parsed.original_message_id == "<m@acme.example>"
    assert [(r.action, r.status, r.hard) for r in parsed.recipients] == [
        ("failed", "5.1.1", True)]


def test_suppression_reason_is_hard_bounce(store: Store, maildir: Path) -> None:
    """`closedloop status` counts suppressions by reason; a bounce says hard_bounce."""
    _, message_id = sent(store)
    deliver(maildir, dsn(message_id))
    process_bounces(store, maildir, NOW)
    with store.engine.connect() as conn:
        reasons = [r for (r,) in conn.exec_driver_sql("SELECT reason FROM suppressions")]
    assert reasons == [HARD_BOUNCE]
