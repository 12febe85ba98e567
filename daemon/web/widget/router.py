"""The widget's routes: the script and stylesheet, and the JSON API they call.

    GET  /widget.js                      the script (short cache; names its versioned CSS)
    GET  /widget.css?v=<version>         the card's stylesheet (immutable for that version)
    OPTIONS, POST /widget/v1/<site>/check    is a survey due? (stores it as sent when it is)
    OPTIONS, POST /widget/v1/<site>/answer   score, then the optional comment
    OPTIONS, POST /widget/v1/<site>/dismiss  "Not now"

Every POST is checked in this order, and nothing is read before the origin is allowed:
site (404), origin (403, no CORS headers), rate (429 + Retry-After), size (413), JSON and
fields (400), identity (401 missing, 403 forged). Every failure is a small JSON error,
never a 500 page, and records nothing (a database outage: 503 JSON with Retry-After).
Answers go through the store's `record_response` / `record_comment`, as from the e-mail
pages: the write-back, alerts, follow-ups and webhooks follow from them. A card takes
answers for ANSWER_WINDOW after it was shown (410 after).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import NoResponseYet, Store, UnknownSend, normalize_email
from closedloop.daemon.store.widget import WIDGET
from closedloop.daemon.surveys import Policy, Program, category
from closedloop.daemon.web.widget.cors import allowed, cors_headers, preflight_headers
from closedloop.daemon.web.widget.due import ANSWER_WINDOW, Visitor, card, survey_for
from closedloop.daemon.web.widget.identity import MAX_EMAIL, verified
from closedloop.daemon.web.widget.limits import Buckets
from closedloop.daemon.web.widget.lookup import ContactLookup
from closedloop.daemon.web.widget.settings import Site

MAX_BODY = 16 * 1024  # a 5,000-character comment in JSON, with room
MAX_COMMENT = 5_000  # as on the comment page
ACTIONS = ("check", "answer", "dismiss")
SCRIPT_CACHE = "public, max-age=300"  # a new version reaches pages within minutes
ASSET_CACHE = "public, max-age=31536000, immutable"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")

log = get_logger(component="widget")


@dataclass(frozen=True)
class Assets:
    """widget.js and widget.css as served; `version` changes with either file."""

    script: bytes
    stylesheet: bytes
    version: str

    @classmethod
    def load(cls) -> Assets:
        folder = files("closedloop.daemon.web.widget") / "static"
        script = (folder / "widget.js").read_text(encoding="utf-8")
        stylesheet = (folder / "widget.css").read_bytes()
        version = hashlib.sha256(script.encode() + stylesheet).hexdigest()[:12]
        return cls(script.replace("__VERSION__", version).encode(), stylesheet, version)


class WidgetError(Exception):
    """Stop a widget request with a JSON error (status, error code, detail)."""

    def __init__(self, status: int, error: str, detail: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail
        self.headers = dict(headers or {})


def widget_router(store: Store, sites: Mapping[str, Site], programs: Mapping[str, Program],
                  policy: Policy, clock: Callable[[], datetime],
                  visitor_limit: Buckets | None = None,
                  site_limit: Buckets | None = None,
                  lookup: ContactLookup | None = None) -> APIRouter:
    """The routes; `visitor_limit` is per site and client address (default 1/s, bursts of
    20), `site_limit` per site (50/s, bursts of 500); `lookup` finds visitors the store
    never met on the CRM (lookup.py)."""
    routes = _Routes(store, sites, programs, policy, clock,
                     Buckets(rate=1.0, burst=20.0) if visitor_limit is None else visitor_limit,
                     Buckets(rate=50.0, burst=500.0) if site_limit is None else site_limit,
                     lookup)
    router = APIRouter()
    router.add_api_route("/widget.js", routes.script, methods=["GET", "HEAD"])
    router.add_api_route("/widget.css", routes.stylesheet, methods=["GET", "HEAD"])
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    router.add_api_route("/widget/v1/{site}/{action}", routes.api, methods=methods)
    router.add_api_route("/widget/{rest:path}", _unknown, methods=methods)
    return router


def _unknown(rest: str) -> Response:
    """Any other path under /widget/: JSON, like the rest of the API."""
    return JSONResponse({"error": "not_found", "detail": "no such widget path"},
                        status_code=404)


class _Routes:
    def __init__(self, store: Store, sites: Mapping[str, Site], programs: Mapping[str, Program],
                 policy: Policy, clock: Callable[[], datetime], visitor_limit: Buckets,
                 site_limit: Buckets, lookup: ContactLookup | None) -> None:
        self.store, self.sites, self.programs, self.lookup = store, sites, programs, lookup
        self.policy, self.clock = policy, clock
        self.visitor_limit, self.site_limit = visitor_limit, site_limit
        self.assets = Assets.load()

    # -- assets --------------------------------------------------------------------------

    def script(self, request: Request) -> Response:
        return self._asset(request, self.assets.script, "text/javascript; charset=utf-8",
                           SCRIPT_CACHE)

    def stylesheet(self, request: Request) -> Response:
        versioned = request.query_params.get("v") == self.assets.version
        return self._asset(request, self.assets.stylesheet, "text/css; charset=utf-8",
                           ASSET_CACHE if versioned else SCRIPT_CACHE)

    def _asset(self, request: Request, body: bytes, media_type: str, cache: str) -> Response:
        etag = f'"{self.assets.version}"'
        headers = {"Cache-Control": cache, "ETag": etag,
                   "Cross-Origin-Resource-Policy": "cross-origin"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    # -- API -----------------------------------------------------------------------------

    async def api(self, request: Request, site: str, action: str) -> Response:
        origin = request.headers.get("origin")
        cors: dict[str, str] = {}
        try:
            found = self.sites.get(site)
            if found is None or action not in ACTIONS:
                raise WidgetError(404, "not_found", "no such widget site or action")
            if not allowed(origin, found.origins):
                log.info("widget.origin_refused", site=site)
                raise WidgetError(403, "origin_refused",
                                  "this origin is not configured for the site")
            assert origin is not None
            cors = cors_headers(origin)
            if request.method == "OPTIONS":
                return self._preflight(request, origin)
            if request.method != "POST":
                raise WidgetError(405, "method_not_allowed", "use POST",
                                  {"Allow": "POST, OPTIONS"})
            self._rate(found, request)
            body = await _read_json(request)
            visitor = _visitor(found, body)
            return await run_in_threadpool(self._act, found, action, visitor, body, cors)
        except SQLAlchemyError as exc:
            log.error("widget.db_error", site=site, error=type(exc).__name__)
            return JSONResponse({"error": "unavailable", "detail": "try again later"},
                                status_code=503, headers={**cors, "Retry-After": "30"})
        except WidgetError as exc:
            return JSONResponse({"error": exc.error, "detail": exc.detail},
                                status_code=exc.status, headers={**cors, **exc.headers})

    def _preflight(self, request: Request, origin: str) -> Response:
        headers = preflight_headers(origin, request.headers)
        if headers is None:
            raise WidgetError(403, "preflight_refused", "only POST with Content-Type")
        return Response(status_code=204, headers=headers)

    def _rate(self, site: Site, request: Request) -> None:
        client = request.client.host if request.client else "-"
        wait = max(self.visitor_limit.take(f"{site.name}:{client}"),
                   self.site_limit.take(site.name))
        if wait > 0:
            log.info("widget.rate_limited", site=site.name)
            raise WidgetError(429, "rate_limited", "too many requests; retry later",
                              {"Retry-After": Buckets.retry_after(wait)})

    def _act(self, site: Site, action: str, visitor: Visitor, body: Mapping[str, Any],
             cors: dict[str, str]) -> Response:
        now = self.clock()
        if action == "dismiss":
            self.store.dismiss_widget(site.name, visitor.email, now + site.not_now, now)
            log.info("widget.not_now", site=site.name)
            return JSONResponse({"ok": True}, headers=cors)
        if action == "answer":
            return JSONResponse(self._answer(site, visitor, body, now), headers=cors)
        verdict = survey_for(self.store, site, self.programs, self.policy, visitor, now,
                             self.lookup)
        if verdict.send is None or verdict.program is None:
            log.info("widget.no_survey", site=site.name, reason=verdict.reason)
            return JSONResponse({"survey": None, "reason": verdict.reason}, headers=cors)
        log.info("widget.survey_shown", site=site.name, program=verdict.program.name,
                 send_id=verdict.send.id)
        return JSONResponse({"survey": card(verdict.send, verdict.program,
                                            self.policy.fallback_language)}, headers=cors)

    def _answer(self, site: Site, visitor: Visitor, body: Mapping[str, Any],
                now: datetime) -> dict[str, Any]:
        send_id, score, comment = body.get("survey"), body.get("score"), body.get("comment")
        if not isinstance(send_id, int) or isinstance(send_id, bool):
            raise WidgetError(400, "invalid", "survey: expected the survey's id (a number)")
        send = self.store.get_send(send_id)
        program = self.programs.get(send.program) if send is not None else None
        if send is None or program is None or send.trigger != WIDGET \
                or send.program not in site.programs \
                or send.email_norm != normalize_email(visitor.email):
            raise WidgetError(404, "not_found", "no such survey for this person")
        if send.sent_at is None or now - send.sent_at >= ANSWER_WINDOW:
            raise WidgetError(410, "expired", "this survey no longer takes answers")
        if score is None and comment is None:
            raise WidgetError(400, "invalid", "give a score, a comment, or both")
        if score is not None:
            if not isinstance(score, int) or isinstance(score, bool) or score not in program.scale:
                raise WidgetError(400, "invalid", f"score: expected a whole number from "
                                  f"{program.scale.low} to {program.scale.high}")
            self.store.record_response(send.id, score, category(program.type, score,
                                                                program.threshold), now)
        if comment is not None:
            if not isinstance(comment, str):
                raise WidgetError(400, "invalid", "comment: expected text")
            text = comment.replace("\r\n", "\n").strip()
            if len(text) > MAX_COMMENT:
                raise WidgetError(422, "comment_too_long",
                                  f"comment: at most {MAX_COMMENT} characters")
            if text:
                try:
                    self.store.record_comment(send.id, text, now)
                except (NoResponseYet, UnknownSend) as exc:
                    raise WidgetError(409, "score_first", "choose a score first") from exc
        log.info("widget.answer_recorded", site=site.name, send_id=send.id,
                 scored=score is not None, commented=bool(comment))
        return {"ok": True}


async def _read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise WidgetError(413, "too_large", f"the body is over {MAX_BODY} bytes")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() \
            != "application/json":
        raise WidgetError(415, "unsupported_media_type", "send application/json")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise WidgetError(413, "too_large", f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WidgetError(400, "invalid_json", "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise WidgetError(400, "invalid_json", "expected a JSON object")
    return data


def _text(body: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit or any(ord(c) < 32 for c in value):
        raise WidgetError(400, "invalid", f"{key}: expected text of at most {limit} characters")
    return value.strip() or None


def _visitor(site: Site, body: Mapping[str, Any]) -> Visitor:
    """The verified visitor; 401 without an identity, 403 with a forged one."""
    email, given = body.get("email"), body.get("hash")
    if not isinstance(email, str) or not email or not isinstance(given, str) or not given:
        raise WidgetError(401, "identity_required", "email and hash are required (identity "
                          "verification: HMAC-SHA256 of the e-mail with the site's secret)")
    if len(email) > MAX_EMAIL or "@" not in email or not verified(site.secret, email, given):
        log.info("widget.identity_refused", site=site.name)
        raise WidgetError(403, "identity_refused", "the hash does not match the e-mail")
    zone = _text(body, "timezone", 64)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None  # a hint only: the contact's zone, or the default, decides
    language = _text(body, "language", 16)  # sends.language holds 16
    if language is not None and not _LANGUAGE.match(language):
        raise WidgetError(400, "invalid", "language: expected a language tag such as fr or "
                          "pt-BR")
    return Visitor(email=email, name=_text(body, "name", 100), language=language,
                   timezone=zone)
