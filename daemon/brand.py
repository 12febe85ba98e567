"""The company's own look on mails and pages: logo, colour, footer (name, address, privacy link)
and where a person stuck on an error page can turn (website, support address).

`[brand]` in the config sets it for every program; `[programs.brand]` overrides single keys for
one program. The colour is the background of white button text, so a colour too light for white
text to be read is refused when the config is loaded (`closedloop check`), with the ratio it
reached. This module sits low in the graph (no daemon imports): the survey domain, mail
composition and the web pages all read a `Brand`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Annotated
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

DEFAULT_COLOR = "#1d4ed8"  # the blue the mails and pages had before brands existed
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text: white button labels on the brand colour
WHITE = "#ffffff"
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def _luminance(color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours, 1.0 (none) to 21.0 (black on white)."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def normalize_color(value: str) -> str:
    """'#ABC', 'abc' or '#aabbcc' -> '#aabbcc'; anything else is a ValueError."""
    match = _HEX.match(value.strip())
    if not match:
        raise ValueError(f"expected a colour such as \"#1d4ed8\", got {value!r}")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return f"#{digits}"


def darker(color: str, factor: float = 0.8) -> str:
    """The same hue, darker: the hover state of a button (keeps white text readable)."""
    r, g, b = (round(int(color[i:i + 2], 16) * factor) for i in (1, 3, 5))
    return f"#{r:02x}{g:02x}{b:02x}"


def _check_color(value: object) -> object:
    if not isinstance(value, str):
        return value
    color = normalize_color(value)
    ratio = contrast_ratio(WHITE, color)
    if ratio < MIN_CONTRAST:
        shown = int(ratio * 100) / 100  # round down: 4.499 must not read as 4.5
        raise ValueError(f"{color} behind white button text reaches a contrast of {shown:.2f}:1; "
                         f"at least {MIN_CONTRAST}:1 is needed (WCAG AA): choose a darker shade")
    return color


_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_UNSAFE = re.compile(r"[\s\"'<>\\;,]")


def _url(value: object) -> object:
    """An http(s) URL with a plain host: the logo's origin goes into the pages'
    Content-Security-Policy header, so nothing there may read as another directive."""
    if isinstance(value, str):
        parsed = urlparse(value)
        if (parsed.scheme not in ("http", "https") or not _HOST.match(parsed.netloc)
                or _UNSAFE.search(value)):
            raise ValueError(f"expected an http(s) URL such as https://example.com, got {value!r}")
    return value


def _email(value: object) -> object:
    if isinstance(value, str) and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
        raise ValueError(f"expected an e-mail address such as help@example.com, got {value!r}")
    return value


Color = Annotated[str, BeforeValidator(_check_color)]
Url = Annotated[str, BeforeValidator(_url)]
EmailAddress = Annotated[str, BeforeValidator(_email)]


class BrandSettings(BaseModel):
    """`[brand]` or `[programs.brand]`: every key optional; unset keys are inherited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)  # footer; default company
    color: Color | None = None
    logo_url: Url | None = None
    logo_alt: str | None = Field(default=None, max_length=200)  # default: the company's name
    logo_width: int | None = Field(default=None, ge=16, le=560)  # CSS pixels in the mail
    logo_height: int | None = Field(default=None, ge=16, le=300)
    address: str | None = Field(default=None, min_length=1, max_length=400)
    privacy_url: Url | None = None
    website_url: Url | None = None
    support_email: EmailAddress | None = None


@dataclass(frozen=True)
class Brand:
    """A resolved brand: what a mail or page shows. `company` is the footer's name."""

    company: str = ""
    color: str = DEFAULT_COLOR
    logo_url: str | None = None
    logo_alt: str = ""
    logo_width: int = 120
    logo_height: int | None = None
    address: str | None = None
    privacy_url: str | None = None
    website_url: str | None = None
    support_email: str | None = None

    @property
    def color_hover(self) -> str:
        return darker(self.color)

    @property
    def address_lines(self) -> list[str]:
        """The postal address, one line per line of the config (commas stay as written)."""
        return [line.strip() for line in (self.address or "").splitlines() if line.strip()]


def resolve_brand(company: str, *layers: BrandSettings | None,
                  support_email: str | None = None) -> Brand:
    """The brand for `company`: later `layers` override earlier ones key by key (config
    `[brand]`, then the program's own); `support_email` is the fallback help address (the
    mail's Reply-To)."""
    values: dict[str, object] = {}
    for layer in layers:
        if layer is not None:
            values.update(layer.model_dump(exclude_none=True))
    name = str(values.pop("name", "") or company)
    known = {f.name for f in fields(Brand)}
    chosen = {k: v for k, v in values.items() if k in known}
    chosen.setdefault("logo_alt", name)
    if support_email:
        chosen.setdefault("support_email", support_email)
    return Brand(company=name, **chosen)  # type: ignore[arg-type]
