"""How the response app fails: every error is a small branded page in the reader's language
(never a traceback, never a 500 for a bad request), and every response wears the security
headers. Used by web/app.py's FastAPI app and by the score pages' short way past it."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from closedloop.daemon.brand import Brand
from closedloop.daemon.i18n import negotiate_accept_language
from closedloop.daemon.logging import get_logger
from closedloop.daemon.web.pages import add_missing_security_headers, error_page, secure

log = get_logger(component="web")


class PageError(Exception):
    """Stop handling a request and answer with one of pages.ERRORS."""

    def __init__(self, kind: str, language: str | None = None, *, brand: Brand | None = None,
                 **variables: object) -> None:
        super().__init__(kind)
        self.kind = kind
        self.language = language
        self.brand = brand
        self.variables = variables



def accept_language(request: Request, fallback: str) -> str:
    return negotiate_accept_language(request.headers.get("accept-language"), fallback)


def known_error_page(request: Request, exc: Exception, fallback: str, brand: Brand
                 ) -> Response | None:
    """The page for a PageError or a database error; None for anything else."""
    if isinstance(exc, PageError):
        return error_page(exc.kind, exc.language or accept_language(request, fallback),
                          exc.brand or brand, **exc.variables)
    if isinstance(exc, SQLAlchemyError):
        log.error("web.db_error", error=type(exc).__name__)
        return error_page("unavailable", accept_language(request, fallback), brand)
    return None


def install_error_handlers(app: FastAPI, fallback: str, brand: Brand) -> None:
    """Every failure is a small branded HTML page in the reader's language; never a traceback."""

    @app.exception_handler(PageError)
    @app.exception_handler(SQLAlchemyError)
    async def known_error(request: Request, exc: Exception) -> Response:
        response = known_error_page(request, exc, fallback, brand)
        assert response is not None
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method"}.get(exc.status_code)
        if kind is None:
            kind = "internal" if exc.status_code >= 500 else "invalid"
        response = error_page(kind, accept_language(request, fallback), brand)
        if exc.status_code == 405 and exc.headers:
            response.headers.update(exc.headers)  # keep the Allow header
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_page("invalid", accept_language(request, fallback), brand)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        return internal_error_page(request, exc, fallback, brand)


def internal_error_page(request: Request, exc: Exception, fallback: str, brand: Brand) -> Response:
    log.error("web.internal_error", error=type(exc).__name__)
    page = error_page("internal", accept_language(request, fallback), brand)
    secure(page)  # FastAPI's 500 handler answers outside the SecurityHeaders middleware
    return page


def install_security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """Add the security headers a response lacks. Plain ASGI rather than `@app.middleware`
    (BaseHTTPMiddleware), which runs every request in an extra task and stream: a third of
    the time of the score page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not isinstance(headers, list):  # an ASGI app may send any iterable
                    headers = message["headers"] = list(headers)
                add_missing_security_headers(headers)
            await send(message)

        await self.app(scope, receive, with_headers)
