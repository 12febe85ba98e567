"""Hand messages to an SMTP relay, and say what the dispatcher should do when that fails.

A dispatch run sends many mails; `SmtpSender.session()` keeps one connection open for all of
them (reconnecting when the relay closes an idle connection or after `max_per_connection`
messages), so 1,000 mails do not open 1,000 connections.

The errors are arranged by what the caller does next:
- `MailTemporaryError`: the relay surely did not take the mail (a 4xx): send it again later.
- `MailConnectionLost` (a temporary error): the connection broke before the end-of-data
  (the final ".") left us: a relay accepts nothing before it, so send the mail again later.
- `MailPermanentError`: a 5xx (recipient unknown, message refused): do not retry this mail.
  It says at which step (`stage`) and with which enhanced status code ("5.1.1") the relay
  refused, so `daemon.delivery.bounces` can tell a dead address from a refused message.
- `MailAuthError` (a temporary error): our credentials or TLS set-up are wrong; nothing will
  go until the configuration is fixed, so pause dispatch and retry later.
- `MailOutcomeUnknown`: the connection broke after the end-of-data left us and before the
  relay answered. It may have been delivered: never retried, and counted as sent by the rules
  (a customer mailed twice is worse than a survey lost).

The DATA step is driven by hand rather than through `smtplib.SMTP.data()`, which sends the
payload and the final dot in one write and so cannot say on which side of the dot a
connection broke. `SmtpSession.send` also calls the caller's `before_end_of_data` right before
the dot: dispatch records there that the outcome is about to become unknown, so a crash
before that point leaves a row that is safely sent again.
"""

from __future__ import annotations

import select
import smtplib
import socket
import ssl as _ssl  # the `ssl` name is SmtpSender's implicit-TLS flag
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import getaddresses

from closedloop.daemon.delivery.smtp_errors import (
    END_OF_DATA,
    MailAbandoned,
    MailAuthError,
    MailConnectionLost,
    MailError,
    MailOutcomeUnknown,
    MailPermanentError,
    MailTemporaryError,
    MailUnavailable,
    by_code,
)
from closedloop.daemon.delivery.wire import data_bytes
from closedloop.daemon.logging import get_logger

__all__ = [  # the error types live in smtp_errors.py; callers import them from here too
    "MailAbandoned", "MailAuthError", "MailConnectionLost", "MailError", "MailOutcomeUnknown",
    "MailPermanentError", "MailTemporaryError", "MailUnavailable", "SmtpSender", "SmtpSession",
]

log = get_logger(component="smtp")


def _envelope(msg: EmailMessage, envelope_from: str | None) -> tuple[str, list[str]]:
    sender = ([("", envelope_from)] if envelope_from else
              getaddresses(msg.get_all("Sender", []) or msg.get_all("From", [])))
    recipients = getaddresses(
        [*msg.get_all("To", []), *msg.get_all("Cc", []), *msg.get_all("Bcc", [])]
    )
    if not sender or not sender[0][1]:
        raise MailPermanentError("message has no From address", 0)
    rcpts = [addr for _, addr in recipients if addr]
    if not rcpts:
        raise MailPermanentError("message has no recipient", 0)
    return sender[0][1], rcpts


class SmtpSession:
    """One (lazily opened, reused) connection to the relay; made by `SmtpSender.session()`."""

    def __init__(self, sender: SmtpSender) -> None:
        self._sender = sender
        self._conn: smtplib.SMTP | None = None
        self._sent_on_conn = 0
        self._used = False  # the open connection has begun a mail
        self.connections_opened = 0

    def open(self) -> None:
        """Connect now unless connected, so a relay that cannot be reached is found out
        before a mail is marked as being sent (MailUnavailable, MailAuthError)."""
        if self._sent_on_conn >= self._sender.max_per_connection:
            self.close()
        self._connection()

    def send(self, msg: EmailMessage,
             before_end_of_data: Callable[[], bool] | None = None) -> None:
        """Send one message; raises one of the Mail* errors above and nothing else.

        `before_end_of_data` runs once the payload is out, right before the final dot; when
        it returns False the connection is dropped without the dot (MailAbandoned).
        """
        mail_from, rcpts = _envelope(msg, self._sender.envelope_from)
        if self._sent_on_conn >= self._sender.max_per_connection:
            self.close()
        # Only a connection that already carried a mail may have been dropped while idle.
        reused = self._conn is not None and self._used
        try:
            conn = self._connection()
            self._used = True
            try:
                self._envelope_phase(conn, mail_from, rcpts)
            except (smtplib.SMTPServerDisconnected, OSError):
                if not reused:
                    raise
                # The relay dropped an idle connection; nothing was accepted, so start over.
                self._drop()
                conn = self._connection()
                self._used = True
                self._envelope_phase(conn, mail_from, rcpts)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise MailConnectionLost(f"connection lost before DATA: {type(exc).__name__}") \
                from exc
        except UnicodeEncodeError as exc:  # a non-ASCII address without SMTPUTF8
            raise MailPermanentError("address is not plain ASCII; the relay cannot take it",
                                     553) from exc
        self._data_phase(conn, msg, before_end_of_data)
        self._sent_on_conn += 1
        log.debug("mail.sent", message_id=msg.get("Message-ID"))

    def _envelope_phase(self, conn: smtplib.SMTP, mail_from: str, rcpts: list[str]) -> None:
        code, reply = conn.mail(mail_from)
        if code != 250:
            self._reset(conn)
            raise by_code(code, "sender refused", "mail", reply)
        refused: list[tuple[int, bytes]] = []
        for rcpt in rcpts:
            code, reply = conn.rcpt(rcpt)
            if code not in (250, 251):
                refused.append((code, reply))
        if len(refused) == len(rcpts):
            self._reset(conn)
            # one 4xx among the refusals means a later try may reach that recipient
            temporary = [r for r in refused if 400 <= r[0] < 500]
            code, reply = temporary[0] if temporary else refused[0]
            raise by_code(code, "recipient refused", "rcpt", reply)
        if refused:
            log.warning("mail.recipients_partly_refused", refused=len(refused), total=len(rcpts))

    def _data_phase(self, conn: smtplib.SMTP, msg: EmailMessage,
                    before_end_of_data: Callable[[], bool] | None) -> None:
        """DATA, the payload, then the end-of-data: the one step after which a broken
        connection leaves the outcome unknown."""
        try:
            conn.putcmd("data")
            code, reply = conn.getreply()
            if code != 354:
                self._reset(conn)
                raise by_code(code, "message refused", "data", reply)
            conn.send(data_bytes(msg))
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise MailConnectionLost(
                f"connection lost before the end of data: {type(exc).__name__}") from exc
        try:
            go_on = before_end_of_data is None or before_end_of_data()
        except BaseException:
            self._drop()  # e.g. the store is down: no dot, and no QUIT inside DATA either
            raise
        if not go_on:
            self._drop()
            raise MailAbandoned("send abandoned before the end of data")
        if _peer_spoke(conn):
            # The relay hung up (or broke off) while we sent the payload: it cannot take a
            # dot sent now, and holds nothing.
            self._drop()
            raise MailConnectionLost("connection lost before the end of data: relay hung up")
        try:
            conn.send(END_OF_DATA)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # The socket refused the dot: the connection was gone before it left us.
            self._drop()
            raise MailConnectionLost(
                f"connection lost before the end of data: {type(exc).__name__}") from exc
        try:
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise MailOutcomeUnknown(
                f"connection lost after the end of data: {type(exc).__name__}") from exc
        if code != 250:
            self._reset(conn)
            raise by_code(code, "message refused", "data", reply)

    def _reset(self, conn: smtplib.SMTP) -> None:
        """RSET after a refusal so the next message on this connection starts clean."""
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._sender._connect()
            self._sent_on_conn = 0
            self._used = False
            self.connections_opened += 1
        return self._conn

    def _drop(self) -> None:
        """Close without QUIT: inside DATA a QUIT would be read as a line of the message."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """QUIT politely; a connection that is already gone is simply dropped."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


def _peer_spoke(conn: smtplib.SMTP) -> bool:
    """Whether the relay closed the connection or said something while we sent DATA (it
    must stay silent until the end of data). A TLS record with no data for us (a session
    ticket) is not a word."""
    sock = conn.sock
    if sock is None:
        return True
    if isinstance(sock, _ssl.SSLSocket) and sock.pending():
        return True
    # poll(), not select(): select() refuses a descriptor numbered 1024 or more, which a
    # busy daemon (many sockets and database connections) reaches.
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        sock.recv(1)  # b"" (closed) or a byte of an out-of-turn reply: either way, gone
    except (BlockingIOError, _ssl.SSLWantReadError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)
    return True


def _no_delay(conn: smtplib.SMTP) -> None:
    """Send every write at once (TCP_NODELAY). With Nagle's algorithm the end-of-data dot, a
    small write right behind the payload, waits for the relay's delayed ACK of it (40 ms on
    Linux): one mail per 40 ms per connection, whatever the CPU."""
    sock = conn.sock
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        log.debug("mail.nodelay_refused")


class SmtpSender:
    """An SMTP relay: plain (local sink), STARTTLS (port 587) or implicit TLS (port 465)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        ssl_context: _ssl.SSLContext | None = None,
        max_per_connection: int = 100,
        local_hostname: str | None = None,
        envelope_from: str | None = None,
    ) -> None:
        """`envelope_from` is the SMTP MAIL FROM (the Return-Path, where bounces go); unset,
        the message's Sender or From address is used."""
        if starttls and ssl:
            raise ValueError("choose STARTTLS (port 587) or implicit TLS (port 465), not both")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.host = host
        self.port = port
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.max_per_connection = max_per_connection
        self._username = username
        self._password = password
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self.envelope_from = envelope_from

    def send(self, msg: EmailMessage) -> None:
        """Send one message on its own connection (use `session()` for a batch)."""
        with self.session() as session:
            session.send(msg)

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        """A reusable connection for a batch; closed (QUIT) when the block ends."""
        session = SmtpSession(self)
        try:
            yield session
        finally:
            session.close()

    def _context(self) -> _ssl.SSLContext:
        return self._ssl_context or _ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        """Connect, upgrade to TLS and log in; errors mapped to the Mail* tree."""
        conn: smtplib.SMTP
        try:
            if self.ssl:
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout
                )
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(f"cannot connect: {type(exc).__name__}") from exc
        _no_delay(conn)
        try:
            conn.ehlo()
            if self.starttls:
                if not conn.has_extn("starttls"):
                    raise MailAuthError("the relay does not offer STARTTLS")
                conn.starttls(context=self._context())
                conn.ehlo()
            if self._username is not None and self._password is not None:
                conn.login(self._username, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            raise MailAuthError(f"login refused: {exc.smtp_code}") from exc
        except (smtplib.SMTPNotSupportedError, _ssl.SSLError) as exc:
            conn.close()
            raise MailAuthError(f"TLS or AUTH set-up failed: {type(exc).__name__}") from exc
        except MailError:
            conn.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            conn.close()
            raise MailUnavailable(f"handshake failed: {type(exc).__name__}") from exc
        log.debug("mail.connected", host=self.host, port=self.port, tls=self.ssl or self.starttls)
        return conn
