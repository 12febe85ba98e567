"""The URL layout of the response app, in one place for the mail composer and the app."""

from __future__ import annotations

from datetime import datetime

from closedloop.daemon.web.tokens import Purpose, TokenSigner


def score_url(public_url: str, token: str, score: int) -> str:
    """The one-click answer link for one score (GET shows a page that POSTs it)."""
    return f"{public_url.rstrip('/')}/r/{token}/{score}"


def unsubscribe_url(public_url: str, signer: TokenSigner, send_id: int,
                    issued_at: datetime | None = None) -> str:
    """The unsubscribe link (and List-Unsubscribe target, RFC 8058 one-click POST), with a
    token of its own purpose: it can unsubscribe, never answer."""
    token = signer.make(send_id, issued_at, purpose=Purpose.UNSUBSCRIBE)
    return f"{public_url.rstrip('/')}/u/{token}"
