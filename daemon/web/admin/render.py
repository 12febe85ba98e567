"""Rendering of the dashboard: Jinja2 templates, the strict CSP, and the small error page.

The pages load one stylesheet from /admin/static and no script; charts are inline SVG. So the
Content-Security-Policy allows styles and images from 'self' and nothing else: no inline
script or style can run, even if something slipped past the template escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

ADMIN_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
             "base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": ADMIN_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}

_env = Environment(loader=PackageLoader("closedloop.daemon.web.admin", "templates"),
                   autoescape=select_autoescape(default=True), trim_blocks=True,
                   lstrip_blocks=True)


def with_params(path: str, params: Mapping[str, Any] | list[tuple[str, str]]) -> str:
    items = params.items() if isinstance(params, Mapping) else params
    query = urlencode([(k, v) for k, v in items if v not in (None, "")])
    return f"{path}?{query}" if query else path


def fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{suffix}"


_env.globals.update(with_params=with_params, fmt=fmt)


def render(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(f"admin/{template}").render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


TITLES = {400: "This view cannot be shown", 403: "Not allowed", 404: "Not found",
          405: "Not allowed", 413: "Too large", 429: "Too many attempts",
          500: "Something went wrong", 503: "The database is not available"}


def error(status: int, message: str, base: str) -> HTMLResponse:
    return render("error.html", status=status, title=TITLES.get(status, "Error"),
                  message=message, base=base)
