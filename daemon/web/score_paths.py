"""The score links (`/r/{token}/{score}`) served ahead of FastAPI's routing.

Every score page went through FastAPI's exception, exit-stack, body-limit and telemetry
middleware and the router's scan of every route before reaching its plain handler; the
score pages are the requests that come by the thousand (every scanner fetches every link),
so they take a short way: this wrapper, ahead of FastAPI's whole stack (its error,
telemetry and body-limit middleware wrapped every `send` too), matches their path as
Starlette's router would (`{token}` and `{score}` are any non-empty segment), runs the
handler and answers its errors with the app's own error pages (`on_error`); an error
`on_error` leaves (None) gets the app's internal-error page (`internal`, with its security
headers) and is raised on
to the server's log, as FastAPI's ServerErrorMiddleware did. Every response it sends first
gets the security headers it lacks (`secure`). Any other path or method goes on to the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
OnError = Callable[[Request, Exception], Response | None]
Internal = Callable[[Request, Exception], Response]
Secure = Callable[[Response], None]


class ScorePaths:
    """Serve GET/HEAD (`get`) and POST (`post`) of `/r/{token}/{score}`; pass the rest on."""

    def __init__(self, app: ASGIApp, *, get: Handler, post: Handler, on_error: OnError,
                 internal: Internal, secure: Secure) -> None:
        self.app = app
        self.handlers = {"GET": get, "HEAD": get, "POST": post}
        self.on_error = on_error
        self.internal = internal
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            parts = get_route_path(scope).split("/")
            handler = self.handlers.get(scope["method"])
            if handler is not None and len(parts) == 4 and parts[1] == "r" and parts[2] \
                    and parts[3]:
                scope["path_params"] = {"token": parts[2], "score": parts[3]}
                request = Request(scope, receive, send)
                try:
                    response = await handler(request)
                except Exception as exc:
                    error = self.on_error(request, exc)
                    if error is None:
                        page = self.internal(request, exc)  # secured by its maker
                        await page(scope, receive, send)
                        raise
                    response = error
                self.secure(response)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
