"""The dashboard app, mounted at /admin by the daemon's web app: sign-in, sign-out and the
session every page checks, then the report pages of `pages.py`.

Cookies: the session cookie carries a signed random id (HttpOnly, SameSite=Strict, Secure
when `public_url` is https, path = the dashboard's own path); the store keeps its SHA-256 and
its CSRF token, so logout, expiry and removing a user end it. A cookie whose signature does
not verify was changed by hand: 403, logged. The sign-in form carries a CSRF nonce tied to
a signed cookie of its own; every POST checks its token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from closedloop.daemon.insight.dimensions import ReportError
from closedloop.daemon.insight.report import Scope
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store
from closedloop.daemon.web.admin.accounts import Accounts, User
from closedloop.daemon.web.admin.auth import (
    AuthPolicy,
    CookieSigner,
    Outcome,
    SignIn,
    session_alive,
)
from closedloop.daemon.web.admin.params import BadRequest
from closedloop.daemon.web.admin.render import HEADERS, error, render
from closedloop.daemon.web.admin.scope import ScopeEscape, user_scope
from closedloop.daemon.web.forms import Form, FormError, read_form

SESSION_COOKIE = "cl_admin_session"
LOGIN_COOKIE = "cl_admin_login"
MAX_LOGIN_BODY = 4 * 1024
_STATIC = files("closedloop.daemon.web.admin").joinpath("static")
STATIC = {"admin.css": (_STATIC.joinpath("admin.css").read_text("utf-8"), "text/css"),
          "icon.svg": (_STATIC.joinpath("icon.svg").read_text("utf-8"), "image/svg+xml")}

log = get_logger(component="admin")
RecordLink = Callable[[str, str | None, str], str | None]  # source, ticket, contact -> URL


def utcnow() -> datetime:
    return datetime.now(UTC)


class NeedSignIn(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Viewer:
    user: User
    session_id: str
    csrf_token: str
    scope: Scope


@dataclass
class Admin:
    """The dashboard's collaborators, shared by the auth routes and the pages."""

    store: Store
    settings: ReportingSettings
    accounts: Accounts
    cookies: CookieSigner
    clock: Callable[[], datetime]
    policy: AuthPolicy
    secure: bool
    record_link: RecordLink | None = None

    @staticmethod
    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def viewer(self, request: Request) -> Viewer:
        """The signed-in viewer, or NeedSignIn (no/expired/revoked session) or Forbidden
        (a cookie that was tampered with)."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise NeedSignIn
        session_id = self.cookies.read_session(cookie)
        if session_id is None:
            log.warning("admin.cookie_tampered", client=_client(request),
                        path=request.url.path)
            raise Forbidden("Your session cookie is not valid. Please sign in again.")
        now = self.clock()
        row = self.accounts.session(session_id)
        if row is None or not session_alive(row, now, self.policy):
            if row is not None:
                self.accounts.close_session(session_id)
                log.info("admin.session_expired", user=row.user_name)
            raise NeedSignIn
        user = self.accounts.get(row.user_name)
        if user is None:
            self.accounts.close_session(session_id)
            raise NeedSignIn
        self.accounts.touch(session_id, now)
        return Viewer(user, session_id, row.csrf_token, user_scope(user))

    def cookie(self, response: Response, request: Request, name: str, value: str,
               max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=self.base(request) or "/",
                            httponly=True, samesite="strict", secure=self.secure)


def create_admin_app(*, store: Store, settings: ReportingSettings, accounts: Accounts,
                     secret: str, secure_cookies: bool = False,
                     clock: Callable[[], datetime] = utcnow, policy: AuthPolicy | None = None,
                     record_link: RecordLink | None = None) -> FastAPI:
    """The dashboard as an ASGI app to mount at /admin (tests serve it over a real store)."""
    from closedloop.daemon.web.admin.pages import add_pages  # pages need the app's types

    admin = Admin(store, settings, accounts, CookieSigner(secret), clock,
                  policy or AuthPolicy(), secure_cookies, record_link)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def login_page(request: Request, message: str = "", status: int = 200,
                   name: str = "") -> Response:
        nonce = secrets.token_urlsafe(24)
        response = render("login.html", status=status, base=admin.base(request), csrf=nonce,
                          message=message, name=name,
                          next=request.query_params.get("next", ""))
        admin.cookie(response, request, LOGIN_COOKIE, admin.cookies.sign_login(nonce), 3600)
        return response

    @app.get("/login")
    def login_get(request: Request) -> Response:
        return login_page(request)

    @app.post("/login")
    async def login_post(request: Request) -> Response:
        form = await _form(request)
        nonce = admin.cookies.read_login(request.cookies.get(LOGIN_COOKIE, ""))
        if nonce is None or not hmac.compare_digest(nonce, form.get("csrf")):
            log.warning("admin.csrf_failed", path="/login", client=_client(request))
            raise Forbidden("This form has expired or was not sent from this site. "
                            "Reload the page and sign in again.")
        name = form.get("name").strip()[:64]
        attempt = await run_in_threadpool(SignIn(admin.accounts, admin.policy).attempt, name,
                                          form.get("password"), _client(request),
                                          admin.clock())
        if attempt.outcome is Outcome.LOCKED:
            return login_page(request, "Too many failed sign-ins. Try again in "
                              f"{int(admin.policy.lock_for.total_seconds() // 60)} minutes.",
                              429, name)
        if attempt.outcome is Outcome.FAILED or attempt.user is None:
            return login_page(request, "Wrong name or password.", 401, name)
        session_id = admin.cookies.new_id()
        await run_in_threadpool(admin.accounts.open_session, session_id, attempt.user.name,
                                secrets.token_urlsafe(32), admin.clock())
        target = form.get("next")
        base = admin.base(request)
        if not (target.startswith(f"{base}/") and not target.startswith("//")
                and "\\" not in target):
            target = f"{base}/"
        response = RedirectResponse(target, status_code=303)
        admin.cookie(response, request, SESSION_COOKIE, admin.cookies.sign_session(session_id),
                     int(admin.policy.absolute.total_seconds()))
        response.delete_cookie(LOGIN_COOKIE, path=base or "/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        viewer = await run_in_threadpool(admin.viewer, request)
        form = await _form(request)
        check_csrf(viewer, form.get("csrf"), request)
        await run_in_threadpool(admin.accounts.close_session, viewer.session_id)
        log.info("admin.logout", user=viewer.user.name)
        base = admin.base(request)
        response = RedirectResponse(f"{base}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=base or "/")
        return response

    @app.get("/static/{name}")
    def static(request: Request, name: str) -> Response:
        if name not in STATIC:
            return error(404, "This page does not exist.", admin.base(request))
        body, media = STATIC[name]
        return Response(body, media_type=media,
                        headers={**HEADERS, "Cache-Control": "public, max-age=3600"})

    add_pages(app, admin)
    _install_handlers(app, admin)
    return app


def check_csrf(viewer: Viewer, token: str, request: Request) -> None:
    if not token or not hmac.compare_digest(viewer.csrf_token, token):
        log.warning("admin.csrf_failed", user=viewer.user.name, path=request.url.path)
        raise Forbidden("This form has expired or was not sent from this site. Reload the "
                        "page and try again.")


async def _form(request: Request) -> Form:
    try:
        return await read_form(request.stream(), request.headers.get("content-type", ""),
                               request.headers.get("content-length", ""), MAX_LOGIN_BODY)
    except FormError as exc:
        raise BadRequest("The form could not be read." if exc.kind != "too_large"
                         else "The form is too large.") from exc


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _install_handlers(app: FastAPI, admin: Admin) -> None:
    """Every failure is a small dashboard page with the right status, never a traceback."""

    @app.middleware("http")
    async def headers(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(NeedSignIn)
    async def need_sign_in(request: Request, exc: NeedSignIn) -> Response:
        base = admin.base(request)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"{base}/login?next={_quote(target)}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=base or "/")
        return response

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error(403, exc.message, admin.base(request))

    @app.exception_handler(ScopeEscape)
    async def scope_escape(request: Request, exc: ScopeEscape) -> Response:
        return error(403, f"You may not see {exc.segment} {exc.value!r}.", admin.base(request))

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return error(400, str(exc), admin.base(request))

    @app.exception_handler(ReportError)
    async def report_error(request: Request, exc: ReportError) -> Response:
        return error(400, str(exc), admin.base(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code if 400 <= exc.status_code < 600 else 500
        return error(status, "This page does not exist." if status == 404 else
                     "This request cannot be answered.", admin.base(request))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return error(400, "This address is not valid.", admin.base(request))

    @app.exception_handler(SQLAlchemyError)
    async def db_error(request: Request, exc: SQLAlchemyError) -> Response:
        log.error("admin.db_error", error=type(exc).__name__)
        return error(503, "Please try again in a few minutes.", admin.base(request))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("admin.internal_error", error=type(exc).__name__, path=request.url.path)
        return error(500, "Please try again in a few minutes.", admin.base(request))


def _quote(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="")
