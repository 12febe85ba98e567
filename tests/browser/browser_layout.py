"""What the browser tests share: the branded programs, reading element boxes from a page,
and the assertions that a scale is one row of equal buttons with its end labels under it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from closedloop.daemon.brand import Brand, contrast_ratio
from closedloop.daemon.surveys import Program, SurveyType

WIDTHS = (320, 375, 414, 600, 1280)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"  # gitignored
LOGO_URL = "https://acme.example/logo.svg"
LOGO_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="140" height="36" viewBox="0 0 140 36">'
            b'<rect width="36" height="36" rx="8" fill="#0f766e"/>'
            b'<text x="46" y="26" font-family="Arial" font-size="22" font-weight="bold" '
            b'fill="#0f766e">Orbit</text></svg>')
BRAND = Brand(company="Orbit Telecom SA", color="#0f766e", logo_url=LOGO_URL,
              logo_alt="Orbit Telecom", logo_width=140, logo_height=36,
              address="12 Rue des Lilas\n75011 Paris\nFrance",
              privacy_url="https://acme.example/privacy", website_url="https://www.orbit.example",
              support_email="help@orbit.example")
PROGRAMS = {
    kind.value: Program(kind.value, kind, "hubspot", timedelta(hours=1), "Orbit", brand=BRAND)
    for kind in SurveyType
}
POINTS = {SurveyType.NPS: 11, SurveyType.CSAT: 5, SurveyType.CES: 7}

# Boxes of the scale's buttons and of the two end labels' text, and the page's own width.
MEASURE = """([buttons, low, high]) => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {x: r.left, y: r.top, w: r.width, h: r.height, right: r.right, bottom: r.bottom,
            scroll: e.scrollWidth, client: e.clientWidth}; };
  const text = (e) => { const range = document.createRange(); range.selectNodeContents(e);
    const r = range.getBoundingClientRect(); return {x: r.left, right: r.right, y: r.top}; };
  return {buttons: [...document.querySelectorAll(buttons)].map(box),
          low: text(document.querySelector(low)), high: text(document.querySelector(high)),
          page: document.documentElement.scrollWidth};
}"""


@dataclass(frozen=True)
class Scale:
    """Measured boxes of one rendered scale."""

    buttons: list[dict[str, float]]
    low: dict[str, float]
    high: dict[str, float]
    page: float


def measure(page: Any, buttons: str, low: str, high: str) -> Scale:
    data = page.evaluate(MEASURE, [buttons, low, high])
    return Scale(data["buttons"], data["low"], data["high"], data["page"])


def assert_one_row(scale: Scale, points: int, width: int) -> None:
    """All buttons on one row, equal, each label fits its button, nothing wider than the
    viewport, tap targets at least 40 px tall and 24 px apart centre to centre (WCAG 2.5.8),
    and the end labels under the end buttons."""
    buttons = scale.buttons
    assert points == len(buttons)
    tops = [b["y"] for b in buttons]
    assert max(tops) - min(tops) < 1, f"buttons on several rows: tops {tops}"
    widths = [b["w"] for b in buttons]
    assert max(widths) - min(widths) < 1.5, f"unequal buttons: {widths}"
    assert [b for b in buttons if b["scroll"] > b["client"]] == [], "a label overflows"
    assert buttons[-1]["right"] <= width
    assert scale.page <= width, f"page is {scale.page} px wide in a {width} px viewport"
    assert min(b["h"] for b in buttons) >= 40
    centers = [b["x"] + b["w"] / 2 for b in buttons]
    steps = [round(b - a, 1) for a, b in itertools.pairwise(centers)]
    assert min(steps) >= 24, f"targets closer than WCAG 2.5.8's 24 px: {steps}"
    bottom = max(b["bottom"] for b in buttons)
    assert scale.low["y"] >= bottom
    assert scale.high["y"] >= bottom
    assert abs(scale.low["x"] - buttons[0]["x"]) <= 2, (scale.low, buttons[0])
    assert abs(scale.high["right"] - buttons[-1]["right"]) <= 2, (scale.high, buttons[-1])


def shot(page: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def contrast(a: str, b: str) -> float:
    """WCAG contrast of two computed `rgb(r, g, b)` colours."""

    def hexa(rgb: str) -> str:
        r, g, bl = (int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
        return f"#{r:02x}{g:02x}{bl:02x}"

    return contrast_ratio(hexa(a), hexa(b))


def routed_context(browser: Any, **options: Any) -> Any:
    """A browser context whose requests for the logo get the local SVG (no network)."""
    context = browser.new_context(**options)
    context.route(LOGO_URL, lambda route: route.fulfill(body=LOGO_SVG,
                                                        content_type="image/svg+xml"))
    return context
