"""Charts as inline SVG drawn on the server: no script, no build step, nothing the
Content-Security-Policy has to allow. Each chart is an `<svg role="img">` with a `<title>`
and a `<desc>` reading out its figures, and scales with its container (viewBox).

Colours are presentation attributes (a CSP without 'unsafe-inline' blocks style attributes)
and reach at least 3:1 against white, WCAG's figure for graphics.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

INK = "#1f2937"
GRID = "#767676"  # 4.5:1 on white
COLORS = ("#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c")  # each >= 4.5:1 on white
FONT = 18  # viewBox units: about 9 px on a phone, 16 px on a desktop
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None = no answers that period


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _head(width: int, height: int, title: str, desc: str) -> tuple[str, str]:
    n = next(_ids)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'role="img" aria-labelledby="chart{n}t chart{n}d" class="chart" '
            f'preserveAspectRatio="xMidYMid meet">'
            f'<title id="chart{n}t">{escape(title)}</title>'
            f'<desc id="chart{n}d">{escape(desc)}</desc>'), f"chart{n}"


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series],
               low: float, high: float, width: int = 640, height: int = 300) -> Markup:
    """Lines over periods; a gap where a period has no value; the y range low..high."""
    left, right, top, bottom = 64, 16, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    span = (high - low) or 1.0
    steps = max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * (i / steps if len(labels) > 1 else 0.5)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / span)

    desc = "; ".join(
        f"{s.name}: " + ", ".join(f"{lab} {_fmt(v) if v is not None else 'no answers'}"
                                  for lab, v in zip(labels, s.values, strict=False))
        for s in series) or "no data"
    head, _ = _head(width, height, title, desc)
    parts = [head]
    for k in range(5):
        v = low + span * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'stroke="{GRID}" stroke-width="0.5"/>'
                     f'<text x="{left - 6}" y="{y(v) + 6:.1f}" text-anchor="end" '
                     f'font-size="{FONT}" fill="{INK}">{_fmt(v)}</text>')
    every = max(1, -(-len(labels) // 4))  # at most four labels: they must not overlap
    for i, lab in enumerate(labels):
        if i % every == 0:
            middle = min(max(x(i), 50.0), width - 50.0)  # a date label stays inside
            parts.append(f'<text x="{middle:.1f}" y="{height - 12}" text-anchor="middle" '
                         f'font-size="{FONT}" fill="{INK}">{escape(lab)}</text>')
    for color, s in zip(itertools.cycle(COLORS), series, strict=False):
        run: list[str] = []
        runs: list[list[str]] = []
        for i, value in enumerate(s.values):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            shown = max(low, min(high, value))
            run.append(f"{x(i):.1f},{y(shown):.1f}")
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(shown):.1f}" r="3" '
                         f'fill="{color}"><title>{escape(s.name)} {escape(labels[i])}: '
                         f'{_fmt(value)}</title></circle>')
        if run:
            runs.append(run)
        for points in runs:
            if len(points) > 1:
                parts.append(f'<polyline points="{" ".join(points)}" fill="none" '
                             f'stroke="{color}" stroke-width="2"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())


def bar_chart(title: str, bars: Sequence[tuple[str, int]], width: int = 800,
              height: int = 220, colors: Sequence[str] | None = None) -> Markup:
    """Vertical bars (a score distribution): label under each, count above."""
    left, right, top, bottom = 12, 12, 26, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    most = max((n for _, n in bars), default=0) or 1
    slot = plot_w / max(len(bars), 1)
    desc = ", ".join(f"{lab}: {n}" for lab, n in bars) or "no answers"
    head, _ = _head(width, height, title, desc)
    parts = [head]
    for i, (lab, n) in enumerate(bars):
        h = plot_h * n / most
        bx = left + i * slot + slot * 0.15
        color = colors[i] if colors and i < len(colors) else COLORS[0]
        parts.append(f'<rect x="{bx:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" fill="{color}"><title>{escape(lab)}: {n}</title></rect>'
                     f'<text x="{bx + slot * 0.35:.1f}" y="{top + plot_h - h - 4:.1f}" '
                     f'text-anchor="middle" font-size="{FONT}" fill="{INK}">{n}</text>'
                     f'<text x="{bx + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle" '
                     f'font-size="{FONT}" fill="{INK}">{escape(lab)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())
