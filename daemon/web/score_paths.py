"""The score links (`/r/{token}/{score}`) served ahead of FastAPI's routing.

Every score page went through FastAPI's exception, exit-stack, body-limit and telemetry
middleware and the router's scan of every route before reaching its plain handler; the
score pages are the requests that come by the thousand (every scanner fetches every link),
so they take a short way: this middleware matches their path as Starlette's router would
(`{token}` and `{score}` are any non-empty segment), runs the handler and answers its
errors with the app's own error pages (`on_error`); what `on_error` leaves (None) is raised
to the app's outer error handler, as before. Any other path or method goes on to the app.
The middleware sits inside the security headers, so every response still wears them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
OnError = Callable[[Request, Exception], Response | None]


class ScorePaths:
    """Serve GET/HEAD (`get`) and POST (`post`) of `/r/{token}/{score}`; pass the rest on."""

    def __init__(self, app: ASGIApp, *, get: Handler, post: Handler, on_error: OnError) -> None:
        self.app = app
        self.handlers = {"GET": get, "HEAD": get, "POST": post}
        self.on_error = on_error

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
                        raise
                    response = error
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
