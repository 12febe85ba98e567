"""A real SMTP server on 127.0.0.1 that keeps what it receives: for the demo and the tests.

It speaks real SMTP (aiosmtpd), so the production `SmtpSender` is exercised unchanged,
including AUTH and STARTTLS when asked. Messages are kept in memory and, optionally, written
to a Maildir folder that any mail client can open.
"""

from __future__ import annotations

import asyncio
import mailbox
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

from closedloop.daemon.logging import get_logger

log = get_logger(component="mail_sink")


@dataclass(frozen=True)
class Received:
    """One accepted message with its envelope and the connection it came on."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str  # "host:port" of the client; one value per SMTP connection
    login: str | None  # the AUTH user, when the client logged in
    tls: bool


class _Handler:
    def __init__(self, sink: LocalMailSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._sink._refusals.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        for rcpt in envelope.rcpt_tos:
            reply = self._sink._data_refusals.get(rcpt.lower())
            if reply is not None:
                return reply
        raw: bytes = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)  # the default policy builds EmailMessage
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        host, port = session.peer[:2]
        self._sink._store(
            Received(
                message=message,
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                peer=f"{host}:{port}",
                login=login,
                tls=session.ssl is not None,
            ),
            raw,
        )
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self._users.get(login) == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


class _Session(Session):
    """aiosmtpd 1.4 sets the deprecated `login_data` itself after every successful AUTH,
    which warns (an error under pytest); keep the value without the warning."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SMTP(SMTP):
    def _create_session(self) -> Session:
        return _Session(self.loop)


class _Controller(Controller):
    """Controller that learns its port when bound to port 0 (aiosmtpd connects to
    host:port to finish starting, so the real port must be known before that)."""

    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            bound: asyncio.Server = self.server  # type: ignore[assignment]
            self.port = bound.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class LocalMailSink:
    """An SMTP server on 127.0.0.1 that stores messages; use as a context manager.

    `users` offers AUTH (PLAIN/LOGIN; allowed without TLS since this is loopback only);
    `auth_required` refuses mail without it (needs `tls_context`). `tls_context` offers
    STARTTLS; with `require_starttls`, mail without it is refused.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        maildir: Path | None = None,
        users: Mapping[str, str] | None = None,
        auth_required: bool = False,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._refusals: dict[str, str] = {}
        self._data_refusals: dict[str, str] = {}
        self._maildir = mailbox.Maildir(maildir, create=True) if maildir is not None else None
        if auth_required and (users is None or tls_context is None):
            # aiosmtpd refuses (warns) to require AUTH in clear text, and so do we.
            raise ValueError("auth_required needs users and a tls_context")
        kwargs: dict[str, Any] = {}
        if users is not None:
            kwargs.update(
                authenticator=_Authenticator(users),
                auth_require_tls=tls_context is not None,
                auth_required=auth_required,
            )
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        self._controller = _Controller(
            _Handler(self), hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        port: int = self._controller.port
        return port

    def start(self) -> LocalMailSink:
        self._controller.start()
        log.info("mail_sink.started", port=self.port)
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LocalMailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def refuse(self, address: str, reply: str = "550 5.1.1 Mailbox unavailable", *,
               at: str = "rcpt") -> None:
        """Answer RCPT TO (or, `at="data"`, the end of DATA) for `address` with `reply`
        (a 4xx or 5xx line), to test bounces: some relays only refuse after the message."""
        if at not in ("rcpt", "data"):
            raise ValueError('refuse at "rcpt" or "data"')
        refusals = self._refusals if at == "rcpt" else self._data_refusals
        refusals[address.lower()] = reply

    def _store(self, received: Received, raw: bytes) -> None:
        with self._lock:
            self._received.append(received)
            if self._maildir is not None:
                self._maildir.add(raw)

    def drain(self) -> list[Received]:
        """What was accepted since the last drain, oldest first, forgotten here (a long
        benchmark's sink would otherwise hold every mail)."""
        with self._lock:
            taken, self._received = self._received, []
        return taken

    @property
    def received(self) -> list[Received]:
        """A snapshot of everything accepted so far, oldest first."""
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
