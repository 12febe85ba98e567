"""Twilio's webhooks and the SMS short link: `POST /hooks/twilio/inbound` (a reply),
`POST /hooks/twilio/status` (a delivery status callback), `GET /s/<code>`.

Checked as every inbound hook is (web/hooks/__init__.py): size first (413), then the rate
(429), then the signature (403, as Twilio's docs answer a request that fails validation),
then the form (400): nothing is trusted before `X-Twilio-Signature` checks out. Twilio
signs the URL it was given (`public_url` + path) and the POST parameters; the official
client's RequestValidator checks it, with and without the port, as Twilio signs either.
A reply is answered with TwiML: a short confirmation in the survey's language, or nothing
for Twilio's own opt-out words (Twilio confirms those itself).

/s/<code> is the link in the text: a random code (never derived from the send id, so it
cannot be guessed), looked up, then sent on (303) to the same survey page the e-mail's links
lead to, with a signed answer token dated like the survey's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from closedloop.daemon.channels.replies import (
    COMMENT,
    SCORE,
    STOP,
    TWILIO_STOP,
    UNPARSED,
    Reply,
    handle_reply,
    keyword,
)
from closedloop.daemon.channels.sms import INBOUND_PATH, STATUS_PATH
from closedloop.daemon.channels.sms_text import NOT_UNDERSTOOD, STOPPED, THANKS
from closedloop.daemon.i18n import negotiate, translator
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.store.sms import CODE_LENGTH, code_of, record_delivery, short_link
from closedloop.daemon.surveys import Program
from closedloop.daemon.web.hooks import _error, _read_capped
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.daemon.web.pages import error_page
from closedloop.daemon.web.tokens import TokenSigner

_CODE = re.compile(rf"^[A-Za-z0-9]{{{CODE_LENGTH}}}$")
_STATUS = re.compile(r"^[a-z_]{1,16}$")
TWIML = "application/xml"

log = get_logger(component="hooks", source="twilio")


def twilio_router(store: Store, signer: TokenSigner, programs: Mapping[str, Program], *,
                  auth_token: str, public_url: str, clock: Callable[[], datetime],
                  fallback_language: str = "en", limiter: TokenBucket | None = None,
                  ) -> APIRouter:
    """The SMS routes; `auth_token` is the Twilio account's (it signs the webhooks)."""
    bucket = limiter or TokenBucket()
    validator = RequestValidator(auth_token)
    base = public_url.rstrip("/")
    router = APIRouter()

    async def verified(request: Request) -> dict[str, str] | Response:
        body = await _read_capped(request)
        if body is None:
            return _error(413, "too_large", "the body is over the size limit")
        wait = bucket.take("twilio")
        if wait > 0:
            return _error(429, "rate_limited", "too many requests; retry later",
                          {"Retry-After": TokenBucket.retry_after(wait)})
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            params = {}
        query = f"?{request.url.query}" if request.url.query else ""
        url = f"{base}{request.url.path}{query}"
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not validator.validate(url, params, signature):
            log.warning("hooks.refused", reason="bad_signature", size=len(body))
            return _error(403, "bad_signature", "the X-Twilio-Signature does not match")
        return params

    @router.post(INBOUND_PATH)
    async def inbound(request: Request) -> Response:
        params = await verified(request)
        if isinstance(params, Response):
            return params
        sid, phone = params.get("MessageSid", ""), params.get("From", "")
        if not sid or not phone:
            return _error(400, "bad_payload", "MessageSid and From are required")
        reply = await run_in_threadpool(
            handle_reply, store, dict(programs), sid=sid, phone=phone,
            body=params.get("Body", ""), now=clock(), max_age=signer.max_age)
        code = await run_in_threadpool(code_of, store.engine, reply.send.id) \
            if reply.send is not None else None
        return _twiml(_answer(reply, programs, params.get("Body", ""),
                              f"{base}/s/{code}" if code else None, fallback_language))

    @router.post(STATUS_PATH)
    async def status(request: Request) -> Response:
        params = await verified(request)
        if isinstance(params, Response):
            return params
        sid, state = params.get("MessageSid", ""), params.get("MessageStatus", "")
        if not sid or not _STATUS.match(state):
            return _error(400, "bad_payload", "MessageSid and MessageStatus are required")
        known = await run_in_threadpool(record_delivery, store.engine, sid, state,
                                        params.get("ErrorCode") or None, clock())
        log.info("sms.status", status=state, known=known)
        return Response(status_code=204)

    @router.get("/s/{code}")
    def short(code: str) -> Response:
        found = short_link(store.engine, code) if _CODE.match(code) else None
        if found is None:
            return error_page("not_found", fallback_language)
        token = signer.make(found.send_id, found.sent_at)
        return RedirectResponse(f"../c/{token}", status_code=303)

    return router


def _answer(reply: Reply, programs: Mapping[str, Program], body: str, link: str | None,
            fallback: str) -> str | None:
    """The text sent back, or None (a retry, Twilio's own STOP words, nothing to say)."""
    send = reply.send
    if reply.repeated or send is None:
        return None
    tr = translator(negotiate(send.language, fallback))
    if reply.outcome == STOP:
        return None if keyword(body) in TWILIO_STOP else tr.gettext(STOPPED)
    if reply.outcome in (SCORE, COMMENT) and link:
        return tr.gettext(THANKS, score=str(reply.score), link=link)
    if reply.outcome == UNPARSED and send.program in programs:
        scale = programs[send.program].scale
        return tr.gettext(NOT_UNDERSTOOD, low=scale.low, high=scale.high)
    return None


def _twiml(text: str | None) -> Response:
    message = f"<Message>{escape(text)}</Message>" if text else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>',
                    media_type=TWIML)
