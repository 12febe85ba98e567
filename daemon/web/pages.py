"""Rendering of the response pages: localized HTML with a per-response CSP nonce.

The pages are tiny and self-contained (inline CSS and one inline script, no external asset
but the brand's logo), so the Content-Security-Policy can forbid everything else: only the
<style> and <script> elements carrying this response's nonce run, and images load only from
the logo's own origin. Every page, error pages included, carries the program's brand (or the
config's `[brand]` when no program is known).
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from fastapi.responses import HTMLResponse
from starlette.responses import Response

from closedloop.daemon.brand import Brand
from closedloop.daemon.i18n import N_, Translator, jinja_environment, translator
from closedloop.daemon.web.nonces import nonces

_TEMPLATES = "closedloop.daemon.web"

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it to a third party
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # personal answers, and a token in the URL
    "X-Robots-Tag": "noindex, nofollow",
}
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
_SECURE_RAW = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in [*SECURITY_HEADERS.items(),
                                   ("Content-Security-Policy", DEFAULT_CSP)]]


def secure(response: Response) -> None:
    """Add the security headers (and the default CSP) that `response` lacks, in place: what
    web/failures.py's SecurityHeaders does to a response on its way out, without a `send` wrapper
    and a header scan per name (the score pages, web/score_paths.py)."""
    add_missing_security_headers(response.raw_headers)


def add_missing_security_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Append to raw (lower-case) ASGI headers the security headers they lack."""
    present = {name for name, _ in headers}
    headers.extend(header for header in _SECURE_RAW if header[0] not in present)


def csp(nonce: str, image_origin: str | None = None) -> str:
    images = f"img-src {image_origin}; " if image_origin else ""
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        f"{images}form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def _origin(url: str | None) -> str | None:
    """scheme://host[:port] of the logo, the one place a page may load an image from."""
    if not url:
        return None
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme and parsed.netloc else None


def site_name(url: str | None) -> str:
    """The host a "Continue to …" link names, so the reader sees where it leads."""
    host = urlparse(url).hostname if url else None
    return (host or "").removeprefix("www.")


@dataclass(frozen=True)
class ErrorText:
    status: int
    title: str
    message: str


ERRORS: dict[str, ErrorText] = {
    "invalid": ErrorText(
        400,
        N_("This link is not valid"),
        N_("The link may have been cut or changed. Please use the buttons in the e-mail."),
    ),
    "expired": ErrorText(
        410,
        N_("This survey has closed"),
        N_("Thank you for your interest: answers to this survey are no longer collected."),
    ),
    "score": ErrorText(
        400,
        N_("This score is not on the scale"),
        N_("Please choose a score between %(low)s and %(high)s."),
    ),
    "not_found": ErrorText(
        404,
        N_("Page not found"),
        N_("We could not find this page or this survey."),
    ),
    "method": ErrorText(
        405,
        N_("This action is not allowed"),
        N_("Please use the buttons in the e-mail or on the page."),
    ),
    "too_large": ErrorText(
        413,
        N_("Your message is too long"),
        N_("Please shorten your comment and send it again."),
    ),
    "unavailable": ErrorText(
        503,
        N_("We could not save your answer right now"),
        N_("Please try again in a few minutes. Nothing you sent was recorded."),
    ),
    "internal": ErrorText(
        500,
        N_("Something went wrong"),
        N_("Please try again in a few minutes."),
    ),
}


def render(template: str, language: str, *, status: int = 200, brand: Brand | None = None,
           **context: Any) -> HTMLResponse:
    """A page in `language` and `brand`, with the security headers and a fresh CSP nonce."""
    tr = translator(language)
    nonce = nonces.next()
    shown = brand or Brand()
    env = jinja_environment(_TEMPLATES, tr.language)
    html = env.get_template(template).render(lang=tr.language, nonce=nonce, brand=shown,
                                             site=site_name(shown.website_url), **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = csp(nonce, _origin(shown.logo_url))
    return response


_NONCE_MARK = secrets.token_hex(16)  # stands for the nonce in a cached page


@dataclass(frozen=True)
class CachedPage:
    """A page rendered once, cut where each response's nonce goes."""

    parts: tuple[str, ...]
    image_origin: str | None


def cached_page(template: str, language: str, *, brand: Brand | None = None,
                **context: Hashable) -> CachedPage:
    """A page that depends on nothing but its (hashable) arguments, such as the score page,
    rendered once per distinct arguments (a caller may keep it under a cheaper key);
    `cached_response` serves it with a fresh nonce."""
    html, origin = _rendered(template, language, brand, tuple(sorted(context.items())))
    return CachedPage(tuple(html.split(_NONCE_MARK)), origin)


def cached_response(page: CachedPage) -> HTMLResponse:
    """A response of a cached page with a fresh nonce, its CSP header set directly."""
    nonce = nonces.next()
    response = HTMLResponse(nonce.join(page.parts))
    response.raw_headers.append((b"content-security-policy",
                                 csp(nonce, page.image_origin).encode("latin-1")))
    return response


@lru_cache(maxsize=4096)
def _rendered(template: str, language: str, brand: Brand | None,
              context: tuple[tuple[str, Hashable], ...]) -> tuple[str, str | None]:
    tr = translator(language)
    shown = brand or Brand()
    env = jinja_environment(_TEMPLATES, tr.language)
    html = env.get_template(template).render(lang=tr.language, nonce=_NONCE_MARK, brand=shown,
                                             site=site_name(shown.website_url), **dict(context))
    return html, _origin(shown.logo_url)


def error_page(kind: str, language: str, brand: Brand | None = None,
               **variables: Any) -> HTMLResponse:
    """One of the ERRORS, localized and branded; `variables` fill the message's placeholders."""
    text = ERRORS[kind]
    tr: Translator = translator(language)
    return render(
        "error.html",
        tr.language,
        status=text.status,
        brand=brand,
        kind=kind,
        title=tr.gettext(text.title),
        message=tr.gettext(text.message, **variables),
    )
