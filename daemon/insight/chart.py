"""The trend chart of a report (`--chart FILE.svg|FILE.png`), drawn without a plotting library.

The chart is first laid out as a short list of shapes (lines, a confidence band, dots,
text), then written as SVG text or rasterized to PNG by insight/png.py (stdlib only: zlib
and a small bitmap font), so both files show the same thing. One panel per survey type
(NPS, CSAT and CES have different scales); one line per segment value, the most answered
MAX_SERIES of them; a lone series gets its 95 % band. A hollow dot is a small sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from xml.sax.saxutils import escape

from closedloop.daemon.insight.periods import period_starts
from closedloop.daemon.insight.report import Query, Row

MAX_SERIES = 8
WIDTH, PANEL, LEFT, RIGHT, TOP, BOTTOM = 860, 240, 56, 170, 34, 36
COLOURS = ("#1f5fa8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207",
           "#4b5563")
RANGES = {"nps": (-100.0, 100.0), "csat": (0.0, 100.0), "ces": (1.0, 7.0)}
TITLES = {"nps": "NPS", "csat": "CSAT (% satisfied)", "ces": "CES (mean effort)"}


@dataclass(frozen=True)
class Shape:
    """kind: line (x1 y1 x2 y2), band (polygon points), dot (x y, filled?), text (x y)."""

    kind: str
    points: tuple[float, ...]
    colour: str = "#000000"
    text: str = ""
    filled: bool = True
    anchor: str = "start"


def layout(rows: Sequence[Row], query: Query) -> tuple[int, int, list[Shape]]:
    """(width, height, shapes) of the chart of `rows`."""
    starts = period_starts(query.since, query.until, query.period)
    types = [t for t in ("nps", "csat", "ces") if any(r.figures.survey_type == t for r in rows)]
    shapes: list[Shape] = []
    for index, survey in enumerate(types):
        shapes += _panel([r for r in rows if r.figures.survey_type == survey], survey, starts,
                         TOP + index * (PANEL + TOP + BOTTOM))
    height = max(1, len(types)) * (PANEL + TOP + BOTTOM)
    if not types:
        shapes.append(Shape("text", (WIDTH / 2, height / 2), text="no answers", anchor="middle"))
    return WIDTH, height, shapes


def _panel(rows: list[Row], survey: str, starts: list[date], top: float) -> list[Shape]:
    low, high = RANGES[survey]
    plot_w, bottom = WIDTH - LEFT - RIGHT, top + PANEL

    def x(start: date) -> float:
        i = starts.index(start) if start in starts else 0
        return LEFT + (plot_w * (i + 0.5) / max(1, len(starts)))

    def y(value: float) -> float:
        value = min(high, max(low, value))
        return bottom - PANEL * (value - low) / (high - low)

    shapes = [Shape("text", (LEFT, top - 12), text=TITLES[survey]),
              Shape("line", (LEFT, bottom, WIDTH - RIGHT, bottom), "#6b7280"),
              Shape("line", (LEFT, top, LEFT, bottom), "#6b7280")]
    for tick in range(5):
        value = low + (high - low) * tick / 4
        shapes.append(Shape("line", (LEFT, y(value), WIDTH - RIGHT, y(value)), "#e5e7eb"))
        shapes.append(Shape("text", (LEFT - 6, y(value) + 4), "#374151",
                            text=f"{value:g}", anchor="end"))
    step = max(1, len(starts) // 8)
    for start in starts[::step]:
        shapes.append(Shape("text", (x(start), bottom + 16), "#374151",
                            text=start.isoformat(), anchor="middle"))
    totals: dict[str | None, int] = {}
    for row in rows:
        totals[row.segment_value] = totals.get(row.segment_value, 0) + row.figures.answers
    chosen = sorted(totals, key=lambda v: (-totals[v], v or ""))[:MAX_SERIES]
    for index, series in enumerate(chosen):
        colour = COLOURS[index % len(COLOURS)]
        points = sorted((r.period_start, r) for r in rows
                        if r.segment_value == series and r.figures.score is not None)
        if len(chosen) == 1:
            band = [(x(s), y(r.figures.ci_high)) for s, r in points
                    if r.figures.ci_high is not None]
            band += [(x(s), y(r.figures.ci_low)) for s, r in reversed(points)
                     if r.figures.ci_low is not None]
            if len(band) >= 4:
                shapes.append(Shape("band", tuple(c for p in band for c in p), "#bfdbfe"))
        for (s1, r1), (s2, r2) in pairwise(points):
            shapes.append(Shape("line", (x(s1), y(r1.figures.score or 0.0), x(s2),
                                         y(r2.figures.score or 0.0)), colour))
        for start, row in points:
            shapes.append(Shape("dot", (x(start), y(row.figures.score or 0.0)), colour,
                                filled=not row.figures.small_sample))
        label = "all" if series is None else (series or "(not set)")
        shapes.append(Shape("line", (WIDTH - RIGHT + 12, top + 8 + 16 * index,
                                     WIDTH - RIGHT + 28, top + 8 + 16 * index), colour))
        shapes.append(Shape("text", (WIDTH - RIGHT + 34, top + 12 + 16 * index), colour,
                            text=label[:18]))
    return shapes


def svg(width: int, height: int, shapes: Sequence[Shape]) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for s in shapes:
        p = [f"{v:.1f}" for v in s.points]
        if s.kind == "line":
            parts.append(f'<line x1="{p[0]}" y1="{p[1]}" x2="{p[2]}" y2="{p[3]}" '
                         f'stroke="{s.colour}" stroke-width="1.5"/>')
        elif s.kind == "band":
            pairs = " ".join(f"{p[i]},{p[i + 1]}" for i in range(0, len(p), 2))
            parts.append(f'<polygon points="{pairs}" fill="{s.colour}" fill-opacity="0.6"/>')
        elif s.kind == "dot":
            fill = s.colour if s.filled else "#ffffff"
            parts.append(f'<circle cx="{p[0]}" cy="{p[1]}" r="3" fill="{fill}" '
                         f'stroke="{s.colour}"/>')
        else:
            parts.append(f'<text x="{p[0]}" y="{p[1]}" fill="{s.colour}" '
                         f'text-anchor="{s.anchor}">{escape(s.text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_chart(path: Path, rows: Sequence[Row], query: Query) -> None:
    """Write the chart as SVG or PNG by the file's extension (checked by the caller)."""
    width, height, shapes = layout(rows, query)
    if path.suffix.lower() == ".svg":
        path.write_text(svg(width, height, shapes), encoding="utf-8")
        return
    from closedloop.daemon.insight.png import rasterize

    path.write_bytes(rasterize(width, height, shapes))
