"""What a valid token leads to, and a posted form read on a survey's page: shared by the
answer pages (web/app.py) and the unsubscribe choices (web/choices.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from closedloop.daemon.surveys import Program
from closedloop.daemon.web.failures import PageError
from closedloop.daemon.web.forms import Form, FormError, read_form


class SendView(Protocol):
    """What the answer pages read of a send: a SendRecord, or on PostgreSQL's one trip a
    PageSend (store/score_reads.py) that holds no more."""

    @property
    def id(self) -> int: ...
    @property
    def program(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...


@dataclass(frozen=True)
class Survey:
    """What a valid token leads to: the send, its program and the reader's language."""

    token: str
    send: SendView
    program: Program
    language: str


async def read_form_page(request: Request, limit: int, language: str) -> Form:
    """The posted form (see forms.py), or the error page named by its FormError."""
    try:
        return await read_form(request.stream(), request.headers.get("content-type", ""),
                               request.headers.get("content-length", ""), limit)
    except FormError as exc:
        raise PageError(exc.kind, language) from exc
