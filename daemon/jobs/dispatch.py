"""Dispatch job: due outbox rows become e-mails, each sent at most once.

A row moves pending → claimed → sending → sent. It is marked `sending` in its own commit
right before the SMTP conversation, so a crash mid-send leaves a row that is never retried
(see Store.release_stale): a lost survey is better than a customer mailed twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from daemon.delivery.smtp import (
    MailAuthError,
    MailPermanentError,
    MailTemporaryError,
    MailUnavailable,
)
from daemon.jobs.poll import STALE_AFTER
from daemon.logging import get_logger
from daemon.store import SendRecord, Store
from daemon.surveys import Program

LEASE = timedelta(minutes=10)
PAUSED_RECHECK = timedelta(hours=1)
MAIL_RETRY = timedelta(minutes=5)


class MailSession(Protocol):
    def send(self, msg: EmailMessage) -> None: ...


class Mailer(Protocol):
    def session(self) -> AbstractContextManager[MailSession]: ...


Composer = Callable[[SendRecord, Program], EmailMessage]


@dataclass
class DispatchResult:
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    failed: int = 0


def dispatch_due(store: Store, programs: Mapping[str, Program], mailer: Mailer,
                 compose: Composer, now: datetime, batch: int = 200) -> DispatchResult:
    """Send every survey that is due now, in claimed batches over one SMTP session."""
    log = get_logger(job="dispatch")
    result = DispatchResult()
    released = store.release_stale(now)
    if any(released.values()):
        log.warning("dispatch.released_stale", **released)
    while rows := store.claim_due_sends(now, batch, LEASE):
        done = 0
        try:
            with mailer.session() as session:
                for row in rows:
                    _dispatch_one(store, programs, session, compose, row, now, result)
                    done += 1
        except (MailAuthError, MailUnavailable) as exc:
            # The relay is down or refuses our login: every row would fail the same way. Hand
            # this batch back for a later run and say so once.
            log.error("dispatch.mail_relay_failed", error=str(exc))
            for row in rows[done:]:
                store.mark_send_failed(row.id, f"mail relay: {exc}", now + MAIL_RETRY)
            result.retried += len(rows) - done
            break
        if len(rows) < batch:
            break
    log.info("dispatch.done", sent=result.sent, retried=result.retried, failed=result.failed,
             **{f"skipped_{k}": v for k, v in result.skipped.items()})
    return result


def _dispatch_one(store: Store, programs: Mapping[str, Program], session: MailSession,
                  compose: Composer, row: SendRecord, now: datetime,
                  result: DispatchResult) -> None:
    log = get_logger(job="dispatch", program=row.program, send_id=row.id)
    program = programs.get(row.program)
    reason = _skip_reason(store, program, row, now)
    if reason == "program_paused":
        # Held, not lost: look again later.
        store.mark_send_failed(row.id, "program paused", now + PAUSED_RECHECK)
        return
    if reason:
        store.mark_skipped(row.id, reason)
        result.skipped[reason] += 1
        log.info("send.skipped", reason=reason)
        return
    assert program is not None  # _skip_reason said so
    try:
        message = compose(row, program)
    except (ValueError, TypeError, LookupError) as exc:  # bad data in the row (e.g. a header)
        store.mark_send_failed(row.id, f"cannot compose: {type(exc).__name__}: {exc}", None)
        result.failed += 1
        log.warning("send.failed", error=f"cannot compose: {type(exc).__name__}")
        return
    if not store.begin_sending(row.id, now):
        return  # another dispatcher took it after its lease expired
    try:
        session.send(message)
    except (MailAuthError, MailUnavailable):
        raise  # the whole batch is handed back by dispatch_due
    except MailTemporaryError as exc:
        store.mark_send_failed(row.id, str(exc), now + MAIL_RETRY * (1 + row.attempts))
        result.retried += 1
        log.warning("send.deferred", error=str(exc))
        return
    except MailPermanentError as exc:
        store.mark_send_failed(row.id, str(exc), None)
        result.failed += 1
        log.warning("send.failed", error=str(exc))
        return
    store.mark_sent(row.id, now, message["Message-ID"])
    result.sent += 1


def _skip_reason(store: Store, program: Program | None, row: SendRecord,
                 now: datetime) -> str | None:
    if program is None:
        return "program_removed"
    if not program.enabled:
        return "program_paused"
    if not row.email:
        return "no_email"
    if row.closed_at is not None and now - row.closed_at > STALE_AFTER:
        return "ticket_too_old"  # e.g. held by a long pause: too late to ask
    if store.is_suppressed(row.email, now):
        return "suppressed"
    return None

