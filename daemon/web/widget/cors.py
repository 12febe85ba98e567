"""CORS for the widget API: answered only to the origins a site configured.

The widget calls with `fetch(..., {credentials: "omit"})` and a JSON body, so browsers send
a preflight (OPTIONS) first. Both the preflight and the call itself are answered with
`Access-Control-Allow-Origin: <that origin>` only when the origin is one of the site's;
any other origin (or none) gets a 403 JSON error without CORS headers, so a page elsewhere
can neither call the API nor read its answers. No cookies are ever set or read.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight answer
ALLOWED_HEADERS = frozenset({"content-type"})


def allowed(origin: str | None, origins: frozenset[str]) -> bool:
    return origin is not None and origin.lower() in origins


def cors_headers(origin: str) -> dict[str, str]:
    """Headers on an allowed origin's answers (Vary: the answer depends on the origin)."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(origin: str, request_headers: Mapping[str, str]) -> dict[str, str] | None:
    """The preflight answer's headers, or None when the browser asks for more than POST
    with a Content-Type."""
    method = request_headers.get("access-control-request-method", "")
    wanted = {h.strip().lower()
              for h in request_headers.get("access-control-request-headers", "").split(",")
              if h.strip()}
    if method != "POST" or not wanted <= ALLOWED_HEADERS:
        return None
    return {**cors_headers(origin), "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE)}
