"""The small single-page app the browser tests embed the widget in, served on its own origin
under a strict Content-Security-Policy (no inline script or style, no eval)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_JS = (Path(__file__).parent / "spa" / "app.js").read_bytes()
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme app</title>
<script src="/app.js" defer></script>
<script src="{daemon}/widget.js" data-site="acme" defer></script>
</head><body>
<nav><a href="/" data-route id="home">Home</a> <a href="/orders" data-route id="orders">Orders</a>
<a href="/settings" data-route id="settings">Settings</a></nav>
<main id="view"></main>
</body></html>
"""


@dataclass
class Spa:
    """What the app serves: the daemon it embeds, and who is signed in (email, hash)."""

    daemon: str = ""
    me: dict[str, str] = field(default_factory=dict)

    def csp(self) -> str:
        return (f"default-src 'none'; script-src 'self' {self.daemon}; "
                f"style-src 'self' {self.daemon}; connect-src 'self' {self.daemon}; "
                "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

    def app(self) -> Starlette:
        async def page(request: Request) -> Response:
            return Response(PAGE.format(daemon=self.daemon), media_type="text/html",
                            headers={"Content-Security-Policy": self.csp()})

        async def script(request: Request) -> Response:
            return Response(APP_JS, media_type="text/javascript")

        async def me(request: Request) -> Response:
            return JSONResponse(self.me)

        return Starlette(routes=[Route("/app.js", script), Route("/me", me),
                                 Route("/", page), Route("/{path:path}", page)])
