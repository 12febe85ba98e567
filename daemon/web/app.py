"""The response web app: one-click scores, the follow-up comment, unsubscribe, health.

Mail security scanners fetch every link of a message (GET, sometimes HEAD) before the person
sees it, so a GET never records anything: the landing page POSTs the score from the browser
(a script submits the form on load; without script the person taps "Confirm"). The signed
token in the URL is the only credential, so POSTs need no session or CSRF cookie.

Bad input of any kind gets a small localized HTML page with a 4xx status, never a 500, and
records nothing. Pages go relative (`../c/<token>`) so the app works behind a path prefix.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from daemon.i18n import negotiate, negotiate_accept_language, translator, wording
from daemon.logging import get_logger
from daemon.store import NoResponseYet, ResponseRecord, SendRecord, Store, UnknownSend
from daemon.surveys import Program, category
from daemon.web.pages import DEFAULT_CSP, SECURITY_HEADERS, error_page, render
from daemon.web.tokens import TokenExpired, TokenInvalid, TokenSigner

MAX_COMMENT = 5_000
MAX_BODY = 64 * 1024  # a 5,000-character comment is at most ~60 KB form-encoded
_SCORE = re.compile(r"^[0-9]{1,3}$")

log = get_logger(component="web")


def utcnow() -> datetime:
    return datetime.now(UTC)


class PageError(Exception):
    """Stop handling a request and answer with one of pages.ERRORS."""

    def __init__(self, kind: str, language: str | None = None, **variables: object) -> None:
        super().__init__(kind)
        self.kind = kind
        self.language = language
        self.variables = variables


@dataclass(frozen=True)
class Survey:
    """What a valid token leads to: the send, its program and the reader's language."""

    token: str
    send: SendRecord
    program: Program
    language: str


def create_app(
    *,
    store: Store,
    signer: TokenSigner,
    programs: Mapping[str, Program],
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """The ASGI app; every dependency is passed in, so tests run it over a real temp store."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    routes = _Routes(store, signer, programs, clock)
    app.add_api_route("/r/{token}/{score}", routes.landing, methods=["GET", "HEAD"])
    app.add_api_route("/r/{token}/{score}", routes.record, methods=["POST"])
    app.add_api_route("/c/{token}", routes.comment_page, methods=["GET"])
    app.add_api_route("/c/{token}", routes.comment, methods=["POST"])
    app.add_api_route("/t/{token}", routes.thanks, methods=["GET"])
    app.add_api_route("/u/{token}", routes.unsubscribe_page, methods=["GET"])
    app.add_api_route("/u/{token}", routes.unsubscribe, methods=["POST"])
    app.add_api_route("/healthz", routes.healthz, methods=["GET"])
    _install_error_handlers(app)
    _install_security_headers(app)
    return app


class _Routes:
    """The route handlers, closed over the app's collaborators."""

    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        programs: Mapping[str, Program],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.signer = signer
        self.programs = programs
        self.clock = clock

    # -- pages ---------------------------------------------------------------------------

    def landing(self, request: Request, token: str, score: str) -> Response:
        """Show the score about to be recorded; records nothing (scanners GET every link)."""
        survey = self._survey(request, token)
        value = self._score(survey, score)
        return render("landing.html", survey.language, score=value, company=survey.program.company)

    def record(self, request: Request, token: str, score: str) -> Response:
        """Record (or change) the score, then go to the comment page (POST-redirect-GET)."""
        survey = self._survey(request, token)
        value = self._score(survey, score)
        program = survey.program
        try:
            self.store.record_response(
                survey.send.id, value, category(program.type, value, program.threshold),
                self.clock(),
            )
        except UnknownSend as exc:
            raise PageError("not_found") from exc
        log.info("web.answer_recorded", program=program.name, send_id=survey.send.id)
        return RedirectResponse(f"../../c/{token}", status_code=303)

    def comment_page(self, request: Request, token: str) -> Response:
        survey = self._survey(request, token)
        response = self.store.get_response(survey.send.id)
        return render("comment.html", survey.language, **self._context(survey, response))

    async def comment(self, request: Request, token: str) -> Response:
        """Save the follow-up comment; too long -> 422 with the text kept in the box."""
        survey = await run_in_threadpool(self._survey, request, token)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            raise PageError("too_large", survey.language)
        form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_BODY)
        raw = form.get("comment", "")
        draft = raw.replace("\r\n", "\n").strip() if isinstance(raw, str) else ""
        return await run_in_threadpool(self._save_comment, survey, draft)

    def _save_comment(self, survey: Survey, draft: str) -> Response:
        tr = translator(survey.language)
        if len(draft) > MAX_COMMENT:
            error = tr.gettext(
                "Your comment is %(length)s characters long; the limit is %(limit)s. "
                "Please shorten it and send it again.",
                length=len(draft),
                limit=MAX_COMMENT,
            )
            response = self.store.get_response(survey.send.id)
            context = self._context(survey, response)
            return render(
                "comment.html", survey.language, status=422, draft=draft, error=error, **context
            )
        if draft:
            try:
                self.store.record_comment(survey.send.id, draft, self.clock())
            except NoResponseYet:
                error = tr.gettext("Please choose a score first.")
                context = self._context(survey, None)
                return render(
                    "comment.html", survey.language, status=409, draft=draft, error=error, **context
                )
            log.info("web.comment_recorded", send_id=survey.send.id)
        return RedirectResponse(f"../t/{survey.token}", status_code=303)

    def thanks(self, request: Request, token: str) -> Response:
        survey = self._survey(request, token)
        response = self.store.get_response(survey.send.id)
        return render("thanks.html", survey.language, **self._context(survey, response))

    def unsubscribe_page(self, request: Request, token: str) -> Response:
        """Ask for a tap: like the score links, a scanner's GET must not unsubscribe."""
        survey = self._survey(request, token, allow_expired=True)
        return render("unsubscribe.html", survey.language, company=survey.program.company)

    def unsubscribe(self, request: Request, token: str) -> Response:
        """Suppress the address (also the RFC 8058 one-click target of List-Unsubscribe)."""
        survey = self._survey(request, token, allow_expired=True)
        if survey.send.email:
            self.store.suppress(survey.send.email, "unsubscribed", self.clock())
        log.info("web.unsubscribed", send_id=survey.send.id)
        return render("unsubscribed.html", survey.language, company=survey.program.company)

    def healthz(self) -> Response:
        """200 when the database answers a trivial query, 503 when it does not."""
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            log.warning("web.health_db_down")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    # -- helpers -------------------------------------------------------------------------

    def _survey(self, request: Request, token: str, *, allow_expired: bool = False) -> Survey:
        """The send behind a token, or a PageError (400 invalid, 410 expired, 404 unknown).

        `allow_expired` serves unsubscribing: an expired link still carries a good
        signature, and honouring an unsubscribe late is better than ignoring it.
        """
        try:
            send_id = self.signer.read(token)
        except TokenExpired as exc:
            send = self.store.get_send(exc.send_id) if exc.send_id is not None else None
            if not (allow_expired and send is not None):
                log.info("web.token_expired")
                raise PageError("expired", self._language(request, send)) from exc
            send_id = send.id
        except TokenInvalid as exc:
            log.info("web.token_invalid")
            raise PageError("invalid") from exc
        send = self.store.get_send(send_id)
        if send is None:
            log.info("web.unknown_send", send_id=send_id)
            raise PageError("not_found")
        language = self._language(request, send)
        program = self.programs.get(send.program)
        if program is None:  # removed from the config since the mail went out
            raise PageError("expired", language)
        return Survey(token, send, program, language)

    @staticmethod
    def _score(survey: Survey, raw: str) -> int:
        scale = survey.program.scale
        score = int(raw) if _SCORE.match(raw) else None
        if score is None or score not in scale:
            raise PageError("score", survey.language, low=scale.low, high=scale.high)
        return score

    @staticmethod
    def _language(request: Request, send: SendRecord | None) -> str:
        """The send's language when we know it and ship it, else the browser's."""
        if send is not None and send.language:
            shipped = negotiate(send.language, fallback="")
            if shipped:
                return shipped
        return _accept(request)

    @staticmethod
    def _context(survey: Survey, response: ResponseRecord | None) -> dict[str, Any]:
        tr = translator(survey.language)
        program = survey.program
        return {
            "token": survey.token,
            "company": program.company,
            "wording": wording(program.type, program.company, program.follow_up, tr),
            "points": program.scale.points,
            "response": response,
        }


def _accept(request: Request) -> str:
    return negotiate_accept_language(request.headers.get("accept-language"))


def _install_error_handlers(app: FastAPI) -> None:
    """Every failure is a small HTML page in the reader's language; never a traceback."""

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(exc.kind, exc.language or _accept(request), **exc.variables)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method"}.get(exc.status_code)
        if kind is None:
            kind = "internal" if exc.status_code >= 500 else "invalid"
        response = error_page(kind, _accept(request))
        if exc.status_code == 405 and exc.headers:
            response.headers.update(exc.headers)  # keep the Allow header
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_page("invalid", _accept(request))

    @app.exception_handler(SQLAlchemyError)
    async def db_error(request: Request, exc: SQLAlchemyError) -> Response:
        log.error("web.db_error", error=type(exc).__name__)
        return error_page("unavailable", _accept(request))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("web.internal_error", error=type(exc).__name__)
        return error_page("internal", _accept(request))


def _install_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        return response
