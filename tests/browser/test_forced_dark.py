"""Chromium's forced dark mode (it darkens a light page at paint time, as some mail apps do):
a mail and the pages must stay readable. Computed styles do not change under it, so this
reads the screenshot's pixels: the card's background and the brightest and darkest pixels
of the question's heading."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from browser_layout import PROGRAMS, SCREENSHOTS, routed_context, shot

from closedloop.daemon.brand import contrast_ratio
from closedloop.daemon.delivery.compose import Sender, compose_survey
from closedloop.daemon.web.tokens import TokenSigner

pytestmark = pytest.mark.browser

# The extreme pixels inside each box of a PNG: {min: [r,g,b], max: [r,g,b]} by luminance.
PIXELS = """async ([png, boxes]) => {
  const img = new Image(); img.src = 'data:image/png;base64,' + png; await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d'); ctx.drawImage(img, 0, 0);
  const lum = (p) => 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
  return boxes.map(([x, y, w, h]) => {
    const d = ctx.getImageData(Math.round(x), Math.round(y), Math.round(w), Math.round(h)).data;
    let lo = [255, 255, 255], hi = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) { const p = [d[i], d[i + 1], d[i + 2]];
      if (lum(p) < lum(lo)) lo = p; if (lum(p) > lum(hi)) hi = p; }
    return {min: lo, max: hi};
  });
}"""


def _hex(rgb: list[int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _readable(page: Any, analyzer: Any, name: str) -> tuple[float, float]:
    """(luminance of the card's corner, contrast of the heading's extremes)."""
    card = page.locator(".cl-card, .card").first.bounding_box()
    title = page.locator("h1").first.bounding_box()
    page.bring_to_front()  # a page behind another is never painted: its screenshot hangs
    png = base64.b64encode(page.screenshot()).decode()
    shot(page, SCREENSHOTS, name)
    corner = [card["x"] + 4, card["y"] + 8, 4, 4]
    heading = [title["x"], title["y"], title["width"], title["height"]]
    background, text = analyzer.evaluate(PIXELS, [png, [corner, heading]])
    back = _hex(background["max"])
    return contrast_ratio(back, "#000000"), contrast_ratio(_hex(text["max"]), _hex(text["min"]))


def test_mail_and_pages_stay_readable_with_dark_mode_forced(
    forced_dark_browser: Any, site: dict[str, str]
) -> None:
    """Forced dark: the card is dark (under 3:1 against black, where white is 21:1) and the
    heading's text stands out from it by at least 4.5:1, in the mail and on two pages."""
    msg = compose_survey(
        program=PROGRAMS["nps"], send_id=1, to="ana@example.test", first_name="Ana",
        language="en", public_url="https://f.orbit.example",
        signer=TokenSigner("s", timedelta(days=30)), sender=Sender("s@orbit.example", "Orbit"),
        now=datetime.now(UTC))
    body = msg.get_body(("html",))
    assert body is not None
    context = routed_context(forced_dark_browser, java_script_enabled=False,
                             viewport={"width": 414, "height": 800})
    try:
        page, analyzer = context.new_page(), context.new_page()
        results = {}
        page.set_content(str(body.get_content()), wait_until="load")
        results["mail"] = _readable(page, analyzer, "mail-nps-forced-dark")
        for name in ("comment-nps", "error-expired"):
            page.goto(site[name])
            results[name] = _readable(page, analyzer, f"page-{name}-forced-dark")
    finally:
        context.close()
    for name, (background, heading) in results.items():
        assert background < 3, (name, background)
        assert heading >= 4.5, (name, heading)
