"""Dispatch: due rows become mails once; refusals, paused programs and bad logins lose nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import SmtpSender
from closedloop.daemon.jobs.dispatch import dispatch_due
from closedloop.daemon.store import NewSend, SendRecord, Store
from closedloop.daemon.surveys import Program, SurveyType

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CSAT = Program("csat", SurveyType.CSAT, "hubspot", timedelta(hours=1), "Acme")


def compose(row: SendRecord, program: Program, now: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@acme.example"
    msg["To"] = row.email or ""
    msg["Subject"] = f"{program.company} survey {row.id}"
    msg["Message-ID"] = f"<send-{row.id}@acme.example>"
    msg.set_content("How did we do?")
    return msg


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    yield store
    store.dispose()


def queue(store: Store, *addresses: str, program: str = "csat") -> None:
    store.add_sends([NewSend(idem_key=f"{program}:{a}", program=program, survey_type="csat",
                             source="hubspot", contact_id=str(i), due_at=NOW, created_at=NOW,
                             email=a) for i, a in enumerate(addresses)])


def test_each_due_row_is_mailed_once(store: Store) -> None:
    """Three due rows → three mails; a second run sends nothing more."""
    queue(store, "a@example.com", "b@example.com", "c@example.com")
    with LocalMailSink() as sink:
        mailer = SmtpSender("127.0.0.1", sink.port)
        first = dispatch_due(store, {"csat": CSAT}, mailer, compose, NOW)
        second = dispatch_due(store, {"csat": CSAT}, mailer, compose, NOW + timedelta(hours=1))
        assert (first.sent, second.sent) == (3, 0)
        assert sorted(str(m["To"]) for m in sink.messages) == [
            "a@example.com", "b@example.com", "c@example.com"]
    assert store.counts()["sends.sent"] == 3


def test_refusals_paused_and_removed_programs(store: Store) -> None:
    """550 fails for good, 451 retries later, a paused program holds, a removed one skips."""
    queue(store, "gone@example.com", "busy@example.com")
    queue(store, "held@example.com", program="paused")
    queue(store, "orphan@example.com", program="removed")
    paused = Program("paused", SurveyType.CSAT, "hubspot", timedelta(0), "Acme", enabled=False)
    with LocalMailSink() as sink:
        sink.refuse("gone@example.com", "550 5.1.1 No such user")
        sink.refuse("busy@example.com", "451 4.3.0 Try again later")
        result = dispatch_due(store, {"csat": CSAT, "paused": paused},
                              SmtpSender("127.0.0.1", sink.port), compose, NOW)
        assert sink.messages == []
    assert (result.sent, result.failed, result.retried) == (0, 1, 1)
    assert dict(result.skipped) == {"program_removed": 1}
    counts = store.counts()
    assert (counts["sends.failed"], counts["sends.pending"]) == (1, 2)  # busy + held wait


def test_bad_mail_login_hands_the_batch_back(store: Store) -> None:
    """A relay that refuses our login: nothing sent, nothing lost, all rows pending again."""
    queue(store, "a@example.com", "b@example.com")
    with LocalMailSink(users={"closedloop": "right"}) as sink:
        mailer = SmtpSender("127.0.0.1", sink.port, username="closedloop", password="wrong")
        result = dispatch_due(store, {"csat": CSAT}, mailer, compose, NOW)
        assert (result.sent, result.retried) == (0, 2)
        assert sink.messages == []
        assert store.counts()["sends.pending"] == 2
        good = SmtpSender("127.0.0.1", sink.port, username="closedloop", password="right")
        later = dispatch_due(store, {"csat": CSAT}, good, compose, NOW + timedelta(minutes=6))
        assert later.sent == 2
        assert len(sink.messages) == 2


def test_relay_down_hands_the_batch_back_after_one_try(store: Store) -> None:
    """No relay listening: one connection attempt, every row pending again, nothing lost."""
    queue(store, "a@example.com", "b@example.com", "c@example.com")
    with LocalMailSink() as sink:
        port = sink.port
    attempts = []

    class CountingSender(SmtpSender):
        def _connect(self):  # type: ignore[no-untyped-def]
            attempts.append(1)
            return super()._connect()

    result = dispatch_due(store, {"csat": CSAT}, CountingSender("127.0.0.1", port, timeout=2),
                          compose, NOW)
    assert (result.sent, result.retried, len(attempts)) == (0, 3, 1)
    assert store.counts()["sends.pending"] == 3


def test_a_row_that_cannot_be_composed_fails_alone(store: Store) -> None:
    """Bad data in one row (here a header with a line break) fails that row, not the run."""
    queue(store, "a@example.com", "b@example.com")

    def fragile(row: SendRecord, program: Program, now: datetime) -> EmailMessage:
        if row.email == "a@example.com":
            raise ValueError("Header values may not contain linefeed or carriage return")
        return compose(row, program, now)

    with LocalMailSink() as sink:
        result = dispatch_due(store, {"csat": CSAT}, SmtpSender("127.0.0.1", sink.port),
                              fragile, NOW)
        assert (result.sent, result.failed) == (1, 1)
        assert [str(m["To"]) for m in sink.messages] == ["b@example.com"]
