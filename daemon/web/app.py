"""The response web app: one-click scores, the follow-up comment, unsubscribe (and the
operator's /healthz, /readyz, /metrics from web.ops).

Mail security scanners fetch every link of a message (GET, sometimes HEAD) before the person
sees it, so a GET never records anything: the landing page POSTs the score from the browser
(a script submits the form after a short delay; without script the person taps "Confirm").
Scanners that run the script are told apart by their burst of links (scanner.py). The signed
token in the URL is the only credential, so POSTs need no session or CSRF cookie.

Bad input of any kind gets a small localized HTML page with a 4xx status, never a 500, and
records nothing. Pages go relative (`../c/<token>`) so the app works behind a path prefix.

Pages speak the send's language, negotiated exactly as the mail was (the contact's CRM
language, else the configured fallback), so the page matches the mail it came from; the
browser's Accept-Language only decides when there is no send (a cut or forged link).
The unsubscribe page's choices live in web/choices.py. Every page wears the program's
brand; pages no program owns (a cut link) wear the config's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from closedloop.daemon.brand import Brand
from closedloop.daemon.i18n import N_, negotiate, translator
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import NoResponseYet, ResponseRecord, SendRecord, Store, UnknownSend
from closedloop.daemon.surveys import Policy, Program, category
from closedloop.daemon.texts import program_text, program_wording
from closedloop.daemon.web.answering import AnswerPath
from closedloop.daemon.web.choices import ChoiceRoutes
from closedloop.daemon.web.failures import (
    PageError,
    accept_language,
    install_error_handlers,
    install_security_headers,
    internal_error_page,
    known_error_page,
)
from closedloop.daemon.web.ops import ops_router
from closedloop.daemon.web.pages import (
    CachedPage,
    cached_page,
    cached_response,
    render,
    secure,
)
from closedloop.daemon.web.scanner import AUTO_POST_DELAY_MS, SCRIPT, LinkOpens, OpenTracker
from closedloop.daemon.web.score_paths import ScorePaths
from closedloop.daemon.web.survey_ref import SendView, Survey, read_form_page
from closedloop.daemon.web.tokens import Purpose, TokenExpired, TokenInvalid, TokenSigner

MAX_COMMENT = 5_000
MAX_BODY = 64 * 1024  # a 5,000-character comment is at most ~60 KB form-encoded
GARBLED = N_("Some characters of your comment could not be read; they are shown as �. "
             "Please check your comment and send it again.")
_SCORE = re.compile(r"^[0-9]{1,3}$")

log = get_logger(component="web")


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    *,
    store: Store,
    signer: TokenSigner,
    programs: Mapping[str, Program],
    clock: Callable[[], datetime] = utcnow,
    policy: Policy | None = None,
    ops: APIRouter | None = None,
    opens: LinkOpens | None = None,
    brand: Brand | None = None,
    hooks: APIRouter | None = None,
    admin: ASGIApp | None = None,
    widget: APIRouter | None = None,
) -> FastAPI:
    """The ASGI app; every dependency is passed in, so tests run it over a real temp store.

    `policy` gives the fallback language, the snooze length and the default time zone;
    `ops` the health and metrics routes (default: web.ops over `store` alone).
    `opens` remembers the score links opened, to spot a scanner (a fresh one by default).
    `brand` dresses the pages no program owns (a cut or unknown link).
    `hooks` the signed inbound webhooks (web.hooks), when a source receives notifications.
    `admin` is the dashboard (web/admin), mounted at /admin when given.
    `widget` the in-page survey script and its JSON API (web/widget), when sites embed it.
    """
    app = _AnswerApp(docs_url=None, redoc_url=None, openapi_url=None)
    policy = policy or Policy()
    routes = _Routes(store, signer, programs, clock, policy, opens or OpenTracker())
    # The score pages skip FastAPI's stack (web/score_paths.py); these routes stay for
    # anything that looks routes up (the 405 of another method, url_path_for).
    app.add_route("/r/{token}/{score}", routes.landing, methods=["GET", "HEAD"])
    app.add_route("/r/{token}/{score}", routes.record, methods=["POST"])
    app.add_api_route("/c/{token}", routes.comment_page, methods=["GET"])
    app.add_api_route("/c/{token}", routes.comment, methods=["POST"])
    app.add_api_route("/t/{token}", routes.thanks, methods=["GET"])
    choices = ChoiceRoutes(store, clock, policy, partial(
        routes.survey, purpose=Purpose.UNSUBSCRIBE, allow_expired=True))
    app.add_api_route("/u/{token}", choices.unsubscribe_page, methods=["GET", "HEAD"])
    app.add_api_route("/u/{token}", choices.unsubscribe, methods=["POST"])
    app.include_router(ops or ops_router(store))
    if hooks is not None:
        app.include_router(hooks)
    if widget is not None:
        app.include_router(widget)
    if admin is not None:
        app.mount("/admin", admin)
    fallback, shown = policy.fallback_language, brand or Brand()
    install_error_handlers(app, fallback, shown)
    install_security_headers(app)
    app.score_paths = ScorePaths(
        partial(FastAPI.__call__, app), get=routes.landing, post=routes.record,
        on_error=lambda request, exc: known_error_page(request, exc, fallback, shown),
        internal=lambda request, exc: internal_error_page(request, exc, fallback, shown),
        secure=secure)
    return app


class _AnswerApp(FastAPI):
    """FastAPI with the score pages served ahead of its whole stack (web/score_paths.py)."""

    score_paths: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.score_paths is None:
            await super().__call__(scope, receive, send)
            return
        await self.score_paths(scope, receive, send)


class _Routes:
    """The route handlers, closed over the app's collaborators."""

    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        programs: Mapping[str, Program],
        clock: Callable[[], datetime],
        policy: Policy,
        opens: LinkOpens,
    ) -> None:
        self.store = store
        self.signer = signer
        self.programs = programs
        self.clock = clock
        self.policy = policy
        self.opens = opens
        self.path = AnswerPath(store, opens, clock)
        self._by_score: dict[int, list[str]] = {}
        self._pages: dict[tuple[str, str, int, bool], CachedPage] = {}

    # -- pages ---------------------------------------------------------------------------

    async def landing(self, request: Request) -> Response:
        """Show the score about to be recorded; records nothing (scanners GET every link).

        The page posts the score from script unless this visit is part of a burst."""
        token, score = request.path_params["token"], request.path_params["score"]
        if self.path.one_trip:
            survey, value, burst = await self._one_trip(request, token, score, note=True)
            return self._landing(survey, value, auto=not burst)
        survey = await self.path.read(self.survey, request, token,
                                      get_send=self.path.get_send)
        value = self._score(survey, score)
        burst = await self.path.opened(survey.send.id, value)
        return self._landing(survey, value, auto=not burst)

    async def _one_trip(self, request: Request, token: str, raw: str, *, note: bool
                        ) -> tuple[Survey, int, bool]:
        """The survey, its score and whether its link is part of a burst, from one statement
        awaited on the loop (PostgreSQL: AnswerPath.one_trip); `note` (GET) also notes the
        link opened, when the page will be shown (the send's program has the score on its
        scale). A token that does not read (expired, invalid) takes the plain way to its
        error page, and notes nothing."""
        score = int(raw) if _SCORE.match(raw) else -1
        try:
            send_id = self.signer.read(token)
        except (TokenExpired, TokenInvalid):
            await self.path.read(self.survey, request, token, get_send=self.path.get_send)
            raise AssertionError("an unreadable answer token always raises") from None
        if note:
            send, burst = await self.path.open_link_on_loop(send_id, score,
                                                            self._scoring(score))
        else:
            send, burst = await self.path.read_with_burst_on_loop(send_id, score)
        survey = self._survey_of(request, token, send_id, send)
        return survey, self._score(survey, raw), burst

    def _scoring(self, score: int) -> list[str]:
        """The programs whose scale has `score` (made once per score)."""
        names = self._by_score.get(score)
        if names is None:
            names = self._by_score[score] = [name for name, program in self.programs.items()
                                             if score in program.scale]
        return names

    def _landing(self, survey: Survey, score: int, *, auto: bool) -> Response:
        """The score page, rendered once per program, language, score and `auto`."""
        program = survey.program
        key = (program.name, survey.language, score, auto)
        page = self._pages.get(key)
        if page is None:
            page = self._pages[key] = cached_page(
                "landing.html", survey.language, brand=program.branding, score=score,
                high=program.scale.high, auto=auto, delay_ms=AUTO_POST_DELAY_MS,
                company=program.company)
        return cached_response(page)

    async def record(self, request: Request) -> Response:
        """Record (or change) the score, then go to the comment page (POST-redirect-GET).

        A scripted POST during a burst of this survey's links is a scanner running the page:
        nothing is recorded, and the page asks for a tap on the confirm button instead.
        The redirect leaves only once the answer is committed (web/answering.py)."""
        token, score = request.path_params["token"], request.path_params["score"]
        burst: bool | None = None  # known already on PostgreSQL (one trip)
        if self.path.one_trip:
            survey, value, burst = await self._one_trip(request, token, score, note=False)
        else:
            survey = await self.path.read(self.survey, request, token,
                                          get_send=self.path.get_send)
            value = self._score(survey, score)
        form = await read_form_page(request, MAX_BODY, survey.language)
        scripted = form.get("via") == SCRIPT
        if scripted and (burst if burst is not None
                         else await self.path.is_burst(survey.send.id, value)):
            log.info("web.scanner_burst", send_id=survey.send.id)
            return self._landing(survey, value, auto=False)
        program = survey.program
        try:
            await self.path.record(survey.send.id, value,
                                   category(program.type, value, program.threshold))
        except UnknownSend as exc:
            raise PageError("not_found", brand=program.branding) from exc
        log.info("web.answer_recorded", program=program.name, send_id=survey.send.id,
                 scripted=scripted)
        return RedirectResponse(f"../../c/{survey.token}", status_code=303)

    def comment_page(self, request: Request, token: str) -> Response:
        survey = self.survey(request, token)
        response = self.store.get_response(survey.send.id)
        return render("comment.html", survey.language, brand=survey.program.branding,
                      **self._context(survey, response))

    async def comment(self, request: Request, token: str) -> Response:
        """Save the follow-up comment; too long -> 422 with the text kept in the box."""
        survey = await run_in_threadpool(self.survey, request, token)
        form = await read_form_page(request, MAX_BODY, survey.language)
        draft = form.get("comment").replace("\r\n", "\n").strip()
        garbled = "comment" in form.garbled
        return await run_in_threadpool(self._save_comment, survey, draft, garbled)

    def _save_comment(self, survey: Survey, draft: str, garbled: bool = False) -> Response:
        """Save the comment; refuse a garbled one (400), too long (422), or one before a score
        (409), showing the text back in the box."""
        tr = translator(survey.language)
        if garbled:
            error = tr.gettext(GARBLED)
            context = self._context(survey, self.store.get_response(survey.send.id))
            log.info("web.comment_garbled", send_id=survey.send.id)
            return render(
                "comment.html", survey.language, status=400, draft=draft, error=error, **context
            )
        if len(draft) > MAX_COMMENT:
            error = tr.gettext(
                "Your comment is %(length)s characters long; the limit is %(limit)s. "
                "Please shorten it and send it again.",
                length=len(draft),
                limit=MAX_COMMENT,
            )
            response = self.store.get_response(survey.send.id)
            context = self._context(survey, response)
            return render("comment.html", survey.language, status=422, draft=draft, error=error,
                          brand=survey.program.branding, **context)
        if draft:
            try:
                self.store.record_comment(survey.send.id, draft, self.clock())
            except NoResponseYet:
                error = tr.gettext("Please choose a score first.")
                context = self._context(survey, None)
                return render("comment.html", survey.language, status=409, draft=draft,
                              error=error, brand=survey.program.branding, **context)
            log.info("web.comment_recorded", send_id=survey.send.id)
        return RedirectResponse(f"../t/{survey.token}", status_code=303)

    def thanks(self, request: Request, token: str) -> Response:
        survey = self.survey(request, token)
        response = self.store.get_response(survey.send.id)
        context = self._context(survey, response)
        program = survey.program
        default = translator(survey.language).gettext(
            "Your feedback helps %(company)s improve. You can close this page.",
            company=program.company,
        )
        message = program_text(program, "thanks", survey.language, default,
                               company=program.company, first_name=survey.send.first_name or "")
        return render("thanks.html", survey.language, message=message, brand=program.branding,
                      **context)

    # -- helpers -------------------------------------------------------------------------

    def survey(self, request: Request, token: str, purpose: Purpose = Purpose.ANSWER, *,
                allow_expired: bool = False,
                get_send: Callable[[int], SendRecord | None] | None = None) -> Survey:
        """The send behind a token made for `purpose`, or a PageError (400 invalid or made
        for another purpose, 410 expired, 404 unknown).

        `allow_expired` serves unsubscribing: an expired link still carries a good
        signature, and honouring an unsubscribe late is better than ignoring it.
        `get_send` reads the send (default: the store's; the score pages pass their own).
        """
        fetch = get_send or self.store.get_send
        try:
            send_id = self.signer.read(token, purpose=purpose)
        except TokenExpired as exc:
            send = fetch(exc.send_id) if exc.send_id is not None else None
            if not (allow_expired and send is not None):
                log.info("web.token_expired")
                owner = self.programs.get(send.program) if send is not None else None
                raise PageError("expired", self._language(request, send),
                                brand=owner.branding if owner else None) from exc
            send_id = send.id
        except TokenInvalid as exc:
            log.info("web.token_invalid")
            raise PageError("invalid") from exc
        return self._survey_of(request, token, send_id, fetch(send_id))

    def _survey_of(self, request: Request, token: str, send_id: int, send: SendView | None
                   ) -> Survey:
        """The survey of a token read as `send_id`, whose send was read as `send`."""
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
            raise PageError("score", survey.language, brand=survey.program.branding,
                            low=scale.low, high=scale.high)
        return score

    def _language(self, request: Request, send: SendView | None) -> str:
        """The language the send's mail was written in; the browser's when there is no send."""
        if send is not None:
            return negotiate(send.language, self.policy.fallback_language)
        return accept_language(request, self.policy.fallback_language)

    @staticmethod
    def _context(survey: Survey, response: ResponseRecord | None) -> dict[str, Any]:
        tr = translator(survey.language)
        program = survey.program
        return {
            "token": survey.token,
            "company": program.company,
            "wording": program_wording(program, tr, survey.send.first_name or ""),
            "points": program.scale.points,
            "high": program.scale.high,
            "response": response,
        }
