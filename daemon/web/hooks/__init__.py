"""Signed inbound webhooks: `POST /hooks/hubspot` and `POST /hooks/zendesk`.

One mechanism for everything a CRM pushes to the daemon. Each request is checked in this
order, and nothing is trusted before its signature: size (413 over MAX_BODY), the source's
rate (429 + Retry-After), the signature and its timestamp (401, logged without the body),
JSON (400 with a JSON error). Then, in one store transaction, event ids not seen before are
recorded and their tickets queued (a CRM's retry queues nothing), and the answer goes back
at once (202): the CRM is never called inline. `on_notified(source)` then wakes the intake
job (coalesced by the caller), which reads the tickets in batches.

A source is served only when `[sources.X] notifications = true` and its secret is set; the
path is the source's name, so two HubSpot portals are /hooks/<name-a> and /hooks/<name-b>.

Reuse (inbound survey triggers, HubSpot workflow "Send a webhook", Zendesk triggers naming a
program and a person): the checks above are the whole of the trust boundary; what a verified
body means is payloads.py's business, so a new payload kind is a new parser there and a new
store intake, not a second endpoint or a second signature check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.daemon.web.hooks.payloads import (
    Event,
    PayloadError,
    hubspot_events,
    zendesk_events,
)
from closedloop.daemon.web.hooks.signatures import SignatureError, verify_hubspot, verify_zendesk

MAX_BODY = 1024 * 1024  # HubSpot batches at most 100 events (~40 KB); 1 MB is generous
KEEP_EVENT_IDS = timedelta(days=3)  # HubSpot retries for up to 3 days, Zendesk for less

log = get_logger(component="hooks")


@dataclass(frozen=True)
class HookSource:
    """One source that receives notifications: its CRM and its signing secret."""

    name: str
    crm: str  # "hubspot" | "zendesk"
    secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"HookSource(name={self.name!r}, crm={self.crm!r})"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _error(status: int, error: str, detail: str,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status,
                        headers=dict(headers or {}))


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY (declared or actual)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def hooks_router(store: Store, sources: Mapping[str, HookSource], *, public_url: str,
                 on_notified: Callable[[str], None] = lambda source: None,
                 clock: Callable[[], datetime] = _utcnow,
                 wall: Callable[[], datetime] = _utcnow,
                 limiter: TokenBucket | None = None) -> APIRouter:
    """The inbound routes for `sources`; `public_url` is the base the CRM was given (HubSpot
    signs the full URI it called). `clock` dates the queued rows (the jobs' clock); `wall`
    is the real clock the CRMs' signature timestamps are checked against."""
    bucket = limiter or TokenBucket()
    base = public_url.rstrip("/")
    router = APIRouter()

    @router.post("/hooks/{name}")
    async def receive(name: str, request: Request) -> Response:
        source = sources.get(name)
        if source is None:
            return _error(404, "unknown_source",
                          f"no source {name!r} receives notifications (set "
                          f"[sources.{name}] notifications = true)")
        body = await _read_capped(request)
        if body is None:
            log.warning("hooks.too_large", source=name)
            return _error(413, "too_large", f"the body is over {MAX_BODY} bytes")
        wait = bucket.take(name)
        if wait > 0:
            log.warning("hooks.rate_limited", source=name)
            return _error(429, "rate_limited", "too many notifications; retry later",
                          {"Retry-After": TokenBucket.retry_after(wait)})
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            _verify(source, request, body, headers, base, wall())
        except SignatureError as exc:
            # The body is never logged: it is unverified, and may carry personal data.
            log.warning("hooks.refused", source=name, reason=exc.reason, size=len(body))
            return _error(401, exc.reason, "the request's signature could not be verified")
        try:
            data: Any = json.loads(body)
            events = (hubspot_events(data) if source.crm == "hubspot"
                      else zendesk_events(data, headers, body))
        except (ValueError, UnicodeDecodeError) as exc:
            kind = "bad_payload" if isinstance(exc, PayloadError) else "malformed_json"
            detail = str(exc) if isinstance(exc, PayloadError) else "the body is not valid JSON"
            log.warning("hooks.bad_payload", source=name, error=kind)
            return _error(400, kind, detail)
        return await run_in_threadpool(_accept, store, name, events, clock(), on_notified)

    return router


def _verify(source: HookSource, request: Request, body: bytes, headers: Mapping[str, str],
            base: str, now: datetime) -> None:
    if source.crm == "hubspot":
        query = f"?{request.url.query}" if request.url.query else ""
        uris = (f"{base}{request.url.path}{query}", str(request.url))
        verify_hubspot(source.secret, request.method, uris, body,
                       headers.get("x-hubspot-signature-v3"),
                       headers.get("x-hubspot-request-timestamp"), now)
    else:
        verify_zendesk(source.secret, body, headers.get("x-zendesk-webhook-signature"),
                       headers.get("x-zendesk-webhook-signature-timestamp"), now)


def _accept(store: Store, name: str, events: list[Event], now: datetime,
            on_notified: Callable[[str], None]) -> Response:
    fresh, queued = store.accept_notification(name, events, now, KEEP_EVENT_IDS)
    log.info("hooks.accepted", source=name, events=len(events), new_events=fresh,
             queued=queued)
    if queued:
        on_notified(name)
    return JSONResponse({"events": len(events), "new_events": fresh, "queued": queued},
                        status_code=202)
