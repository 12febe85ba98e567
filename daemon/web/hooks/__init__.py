"""Signed inbound webhooks: `POST /hooks/<source>` and `POST /hooks/generic`.

One mechanism for everything pushed to the daemon: CRM change notifications and survey
triggers. Each request is checked in this order, and nothing is trusted before its
signature: size (413 over MAX_BODY), the source's rate (429 + Retry-After), the signature
and its timestamp (401, logged without the body), JSON (400 with a JSON error).

Routes. `/hooks/<name>` is a configured source: HubSpot-signed (v3) for a HubSpot source,
Zendesk-signed for a Zendesk one, with the source's one secret. `/hooks/generic` is
Standard Webhooks-signed (`[triggers] generic = true`), for any other system. What a
verified body is decides what happens: on a source's route, a body that names a program
(or a URL with ?program=) is a survey trigger, anything else a change notification.

- Notifications (`[sources.X] notifications = true`): in one store transaction, event ids
  not seen before are recorded and their tickets queued (a retry queues nothing), and the
  answer goes back at once (202); `on_notified(source)` then wakes the intake job.
- Survey triggers (`[sources.X] triggers = true`, or generic): daemon/triggers queues one
  survey, reading the CRM inline only for a person the store does not know; 202 with the
  send's key and status (queued, skipped + reason, duplicate: the event id was seen);
  422 unknown_program / unknown_person / bad_trigger (never retried by the CRMs);
  503 + Retry-After when the CRM could not be read (retried).
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
from closedloop.daemon.triggers import Queued, Trigger, TriggerError, TriggerKind
from closedloop.daemon.web.hooks.limiter import TokenBucket
from closedloop.daemon.web.hooks.payloads import (
    Event,
    PayloadError,
    hubspot_events,
    zendesk_events,
)
from closedloop.daemon.web.hooks.signatures import (
    SignatureError,
    verify_hubspot,
    verify_standard,
    verify_zendesk,
)
from closedloop.daemon.web.hooks.trigger_payloads import (
    TriggerPayloadError,
    is_trigger,
    parse_trigger,
)
from closedloop.integration.errors import ClosedLoopError, RateLimited

MAX_BODY = 1024 * 1024  # HubSpot batches at most 100 events (~40 KB); 1 MB is generous
KEEP_EVENT_IDS = timedelta(days=3)  # HubSpot retries for up to 3 days, Zendesk for less
GENERIC = "generic"  # the Standard Webhooks route's name (no source may take it)
CRM_RETRY_AFTER = 60  # seconds a sender waits after a 503 (the CRM could not be read)
_KINDS: dict[str, TriggerKind] = {"hubspot": "hubspot_workflow", "zendesk": "zendesk_trigger",
                                  "standard": "generic"}

# (trigger, source whose route it came by, or None for generic) -> what became of it
TriggerIntake = Callable[[Trigger, str | None], Queued]

log = get_logger(component="hooks")


@dataclass(frozen=True)
class HookSource:
    """One route of /hooks: its signature scheme, its secret, and what it accepts."""

    name: str
    crm: str  # "hubspot" | "zendesk" | "standard" (the generic route)
    secret: str
    notifications: bool = True  # CRM change notifications (a CRM source only)
    triggers: bool = False  # survey triggers

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
                 limiter: TokenBucket | None = None,
                 triggers: TriggerIntake | None = None) -> APIRouter:
    """The inbound routes for `sources`; `public_url` is the base the CRM was given (HubSpot
    signs the full URI it called). `clock` dates the queued rows (the jobs' clock); `wall`
    is the real clock the senders' signature timestamps are checked against. `triggers`
    queues a survey trigger (daemon/triggers); None: no route accepts them."""
    bucket = limiter or TokenBucket()
    base = public_url.rstrip("/")
    router = APIRouter()

    @router.post("/hooks/{name}")
    async def receive(name: str, request: Request) -> Response:
        source = sources.get(name)
        if source is None:
            return _error(404, "unknown_source",
                          f"no source {name!r} receives webhooks (set [sources.{name}] "
                          "notifications = true or triggers = true)")
        body = await _read_capped(request)
        refused = _refused(source, request, body, bucket, base, wall())
        if refused is not None or body is None:
            return refused or _error(413, "too_large", f"the body is over {MAX_BODY} bytes")
        try:
            data: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            log.warning("hooks.bad_payload", source=name, error="malformed_json")
            return _error(400, "malformed_json", "the body is not valid JSON")
        headers = {k.lower(): v for k, v in request.headers.items()}
        program = request.query_params.get("program") or None
        if source.crm == "standard" or is_trigger(data, program):
            return await run_in_threadpool(_trigger, triggers, source, data, headers, body,
                                           program)
        return await run_in_threadpool(_notification, store, source, data, headers, body,
                                       clock(), on_notified)

    return router


def _refused(source: HookSource, request: Request, body: bytes | None, bucket: TokenBucket,
             base: str, now: datetime) -> Response | None:
    """The size, rate and signature checks, in that order: the answer when one fails."""
    if body is None:
        log.warning("hooks.too_large", source=source.name)
        return _error(413, "too_large", f"the body is over {MAX_BODY} bytes")
    wait = bucket.take(source.name)
    if wait > 0:
        log.warning("hooks.rate_limited", source=source.name)
        return _error(429, "rate_limited", "too many requests; retry later",
                      {"Retry-After": TokenBucket.retry_after(wait)})
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        _verify(source, request, body, headers, base, now)
    except SignatureError as exc:
        # The body is never logged: it is unverified, and may carry personal data.
        log.warning("hooks.refused", source=source.name, reason=exc.reason, size=len(body))
        return _error(401, exc.reason, "the request's signature could not be verified")
    return None


def _verify(source: HookSource, request: Request, body: bytes, headers: Mapping[str, str],
            base: str, now: datetime) -> None:
    if source.crm == "hubspot":
        query = f"?{request.url.query}" if request.url.query else ""
        uris = (f"{base}{request.url.path}{query}", str(request.url))
        verify_hubspot(source.secret, request.method, uris, body,
                       headers.get("x-hubspot-signature-v3"),
                       headers.get("x-hubspot-request-timestamp"), now)
    elif source.crm == "zendesk":
        verify_zendesk(source.secret, body, headers.get("x-zendesk-webhook-signature"),
                       headers.get("x-zendesk-webhook-signature-timestamp"), now)
    else:
        verify_standard(source.secret, body, headers.get("webhook-id"),
                        headers.get("webhook-timestamp"), headers.get("webhook-signature"),
                        now)


def _default_event(source: HookSource, headers: Mapping[str, str]) -> str | None:
    """The sender's own id of this delivery, the same on its retries (None: hash the body)."""
    if source.crm == "zendesk":
        invocation = headers.get("x-zendesk-webhook-invocation-id", "")
        hook = headers.get("x-zendesk-webhook-id", "")
        return f"{hook}:{invocation}" if invocation else None
    if source.crm == "standard":
        return headers.get("webhook-id") or None
    return None


def _trigger(intake: TriggerIntake | None, source: HookSource, data: Any,
             headers: Mapping[str, str], body: bytes, program: str | None) -> Response:
    if not source.triggers or intake is None:
        return _error(400, "triggers_off", f"source {source.name!r} takes no survey "
                      f"triggers (set [sources.{source.name}] triggers = true)")
    try:
        trigger = parse_trigger(data, _KINDS[source.crm], query_program=program,
                                default_event=_default_event(source, headers), body=body)
        outcome = intake(trigger, None if source.crm == "standard" else source.name)
    except TriggerPayloadError as exc:
        log.warning("hooks.trigger_refused", source=source.name, error="bad_trigger")
        return _error(422, "bad_trigger", str(exc))
    except TriggerError as exc:
        log.warning("hooks.trigger_refused", source=source.name, error=exc.code)
        return _error(422, exc.code, exc.detail)
    except ClosedLoopError as exc:
        wait = exc.retry_after if isinstance(exc, RateLimited) else CRM_RETRY_AFTER
        log.warning("hooks.trigger_crm_failed", source=source.name, error=type(exc).__name__)
        return _error(503, "crm_unavailable", "the CRM could not be read; retry later",
                      {"Retry-After": TokenBucket.retry_after(max(wait, 1.0))})
    log.info("hooks.trigger", source=source.name, status=outcome.status,
             reason=outcome.reason)
    return JSONResponse(outcome.as_json(), status_code=202)


def _notification(store: Store, source: HookSource, data: Any, headers: Mapping[str, str],
                  body: bytes, now: datetime, on_notified: Callable[[str], None]) -> Response:
    if not source.notifications:
        return _error(400, "not_a_trigger", f"source {source.name!r} takes survey triggers "
                      "only: the body must name a program")
    try:
        events = (hubspot_events(data) if source.crm == "hubspot"
                  else zendesk_events(data, headers, body))
    except PayloadError as exc:
        log.warning("hooks.bad_payload", source=source.name, error="bad_payload")
        return _error(400, "bad_payload", str(exc))
    return _accept(store, source.name, events, now, on_notified)


def _accept(store: Store, name: str, events: list[Event], now: datetime,
            on_notified: Callable[[str], None]) -> Response:
    fresh, queued = store.accept_notification(name, events, now, KEEP_EVENT_IDS)
    log.info("hooks.accepted", source=name, events=len(events), new_events=fresh,
             queued=queued)
    if queued:
        on_notified(name)
    return JSONResponse({"events": len(events), "new_events": fresh, "queued": queued},
                        status_code=202)
