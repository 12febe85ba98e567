"""SmtpSender against a real SMTP server (the aiosmtpd LocalMailSink) on 127.0.0.1."""

from __future__ import annotations

import mailbox
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from closedloop.daemon.delivery.sink import LocalMailSink
from closedloop.daemon.delivery.smtp import (
    MailAuthError,
    MailPermanentError,
    MailTemporaryError,
    SmtpSender,
)


def message(n: int = 0, to: str = "ana@example.test") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Acme <survey@acme.example>"
    msg["To"] = to
    msg["Subject"] = f"Survey {n}: café"
    msg["Message-ID"] = f"<m{n}@acme.example>"
    msg.set_content(f"Line one\n.\n..leading dots\nmessage {n} ünïcode\n")
    msg.add_alternative(f"<p>message {n}</p>", subtype="html")
    return msg


@pytest.fixture
def sink() -> Iterator[LocalMailSink]:
    with LocalMailSink() as running:
        yield running


def test_message_arrives_intact(sink: LocalMailSink) -> None:
    """Headers, both parts, non-ASCII text and lines starting with dots survive the trip."""
    sent = message(1)
    SmtpSender(sink.host, sink.port).send(sent)
    [received] = sink.received
    got = received.message
    assert received.mail_from == "survey@acme.example"
    assert received.rcpt_tos == ("ana@example.test",)
    assert sent["Subject"] == got["Subject"]
    assert got["Message-ID"] == "<m1@acme.example>"
    plain = got.get_body(("plain",))
    html = got.get_body(("html",))
    assert plain is not None
    assert html is not None
    expected_text = "Line one\n.\n..leading dots\nmessage 1 ünïcode\n"
    assert expected_text == plain.get_content().replace("\r\n", "\n")
    assert html.get_content().replace("\r\n", "\n") == "<p>message 1</p>\n"


def test_one_connection_for_a_batch(sink: LocalMailSink) -> None:
    """A session sends many mails over one SMTP connection (one client port seen)."""
    sender = SmtpSender(sink.host, sink.port)
    with sender.session() as session:
        for n in range(20):
            session.send(message(n))
    assert session.connections_opened == 1
    assert len(sink.received) == 20
    assert len({r.peer for r in sink.received}) == 1
    assert [f"<m{n}@acme.example>" for n in range(20)] == [
        m["Message-ID"] for m in sink.messages
    ]


def test_commands_and_the_dot_are_not_held_back(sink: LocalMailSink) -> None:
    """The connection sends each write at once (TCP_NODELAY): with Nagle's algorithm the
    end-of-data dot, sent right behind the payload, would wait for the relay's delayed ACK
    (40 ms on Linux), capping a connection at 25 mails a second. Before: option 0."""
    sender = SmtpSender(sink.host, sink.port)
    with sender.session() as session:
        session.send(message(1))
        conn = session._conn
        assert conn is not None
        assert conn.sock is not None
        assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert len(sink.received) == 1


def test_connection_is_renewed_after_max_per_connection(sink: LocalMailSink) -> None:
    """Relays cap messages per connection; the session reconnects before hitting the cap."""
    sender = SmtpSender(sink.host, sink.port, max_per_connection=2)
    with sender.session() as session:
        for n in range(5):
            session.send(message(n))
    assert session.connections_opened == 3
    assert len({r.peer for r in sink.received}) == 3


def test_send_without_session_opens_and_closes_a_connection(sink: LocalMailSink) -> None:
    """The one-shot send() uses its own connection per call."""
    sender = SmtpSender(sink.host, sink.port)
    sender.send(message(1))
    sender.send(message(2))
    assert len({r.peer for r in sink.received}) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_temporary() -> None:
    """Nobody listening: MailTemporaryError (the mail surely was not accepted)."""
    with pytest.raises(MailTemporaryError, match="cannot connect"):
        SmtpSender("127.0.0.1", _free_port(), timeout=2).send(message())


def test_relay_restart_between_mails_reconnects_once() -> None:
    """A connection the relay dropped while idle is reopened; the next mail still goes."""
    port = _free_port()
    sender = SmtpSender("127.0.0.1", port)
    with sender.session() as session:
        with LocalMailSink(port=port) as first:
            session.send(message(1))
        with LocalMailSink(port=port) as second:
            session.send(message(2))
    assert session.connections_opened == 2
    assert (
        [m["Message-ID"] for m in first.messages],
        [m["Message-ID"] for m in second.messages],
    ) == (["<m1@acme.example>"], ["<m2@acme.example>"])


def test_recipient_refused_5xx_is_permanent_and_session_goes_on(sink: LocalMailSink) -> None:
    """550 for one recipient: MailPermanentError(550), and the next mail on the same
    connection is delivered (the session RSETs)."""
    sink.refuse("gone@example.test", "550 5.1.1 Mailbox unavailable")
    with SmtpSender(sink.host, sink.port).session() as session:
        with pytest.raises(MailPermanentError) as caught:
            session.send(message(1, to="gone@example.test"))
        session.send(message(2))
    assert caught.value.code == 550
    assert [m["Message-ID"] for m in sink.messages] == ["<m2@acme.example>"]
    assert session.connections_opened == 1


def test_recipient_refused_4xx_is_temporary(sink: LocalMailSink) -> None:
    """451 (greylisting, mailbox busy): retry later."""
    sink.refuse("busy@example.test", "451 4.7.1 Try again later")
    with pytest.raises(MailTemporaryError, match="451"):
        SmtpSender(sink.host, sink.port).send(message(1, to="busy@example.test"))
    assert sink.messages == []


def test_message_without_recipient_is_permanent(sink: LocalMailSink) -> None:
    """A message with no To cannot ever be sent: permanent, and nothing reaches the relay."""
    msg = message()
    del msg["To"]
    with pytest.raises(MailPermanentError, match="no recipient"):
        SmtpSender(sink.host, sink.port).send(msg)


def test_auth_login() -> None:
    """With credentials the sender logs in; the relay sees the user."""
    with LocalMailSink(users={"mailer": "s3cret"}) as sink:
        SmtpSender(sink.host, sink.port, username="mailer", password="s3cret").send(message())
        assert [r.login for r in sink.received] == ["mailer"]


def test_auth_refused_is_an_auth_error() -> None:
    """A wrong password is MailAuthError (temporary: nothing goes until config is fixed)."""
    with LocalMailSink(users={"mailer": "s3cret"}) as sink:
        sender = SmtpSender(sink.host, sink.port, username="mailer", password="wrong")
        with pytest.raises(MailAuthError, match="535"):
            sender.send(message())
        assert sink.messages == []


def test_starttls_required_but_not_offered_is_an_auth_error(sink: LocalMailSink) -> None:
    """We never fall back to cleartext when STARTTLS was asked for."""
    with pytest.raises(MailAuthError, match="STARTTLS"):
        SmtpSender(sink.host, sink.port, starttls=True).send(message())
    assert sink.messages == []


def test_maildir_copy(tmp_path: Path) -> None:
    """With a Maildir folder, every accepted message is also written there."""
    with LocalMailSink(maildir=tmp_path / "Maildir") as sink:
        SmtpSender(sink.host, sink.port).send(message(7))
    box = mailbox.Maildir(tmp_path / "Maildir", create=False)
    assert [m["Message-ID"] for m in box] == ["<m7@acme.example>"]


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl CLI; no Python deps)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_starttls_and_auth(tls_files: tuple[Path, Path]) -> None:
    """STARTTLS with a verified certificate, then AUTH over the encrypted channel."""
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    with LocalMailSink(users={"mailer": "s3cret"}, auth_required=True, tls_context=server_ctx,
                       require_starttls=True) as sink:
        SmtpSender(sink.host, sink.port, starttls=True, username="mailer", password="s3cret",
                   ssl_context=client_ctx).send(message(3))
        [received] = sink.received
    assert (
        received.tls, received.login, received.message["Message-ID"]
    ) == (True, "mailer", "<m3@acme.example>")


def test_untrusted_certificate_is_an_auth_error(tls_files: tuple[Path, Path]) -> None:
    """An unverifiable certificate stops the send (no silent downgrade)."""
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    with LocalMailSink(tls_context=server_ctx, require_starttls=True) as sink:
        with pytest.raises(MailAuthError, match="TLS"):
            SmtpSender(sink.host, sink.port, starttls=True).send(message())
        assert sink.messages == []
