"""A PNG of the chart's shapes with the standard library only (zlib, struct).

A plotting or imaging library would add tens of megabytes to a daemon for one optional
picture; lines, a band, dots and a 5x7 bitmap font (upper case, digits, a few signs) are
a hundred lines. Text is drawn in capitals; a character the font lacks is drawn as '?'.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from closedloop.daemon.insight.chart import Shape

_GLYPHS = {  # 5 columns x 7 rows, one string of 7 five-bit rows per character
    "0": "0E 11 13 15 19 11 0E", "1": "04 0C 04 04 04 04 0E", "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E", "4": "02 06 0A 12 1F 02 02", "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E", "7": "1F 01 02 04 08 08 08", "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C", "A": "0E 11 11 1F 11 11 11", "B": "1E 11 11 1E 11 11 1E",
    "C": "0E 11 10 10 10 11 0E", "D": "1C 12 11 11 11 12 1C", "E": "1F 10 10 1E 10 10 1F",
    "F": "1F 10 10 1E 10 10 10", "G": "0E 11 10 17 11 11 0F", "H": "11 11 11 1F 11 11 11",
    "I": "0E 04 04 04 04 04 0E", "J": "07 02 02 02 02 12 0C", "K": "11 12 14 18 14 12 11",
    "L": "10 10 10 10 10 10 1F", "M": "11 1B 15 15 11 11 11", "N": "11 11 19 15 13 11 11",
    "O": "0E 11 11 11 11 11 0E", "P": "1E 11 11 1E 10 10 10", "Q": "0E 11 11 11 15 12 0D",
    "R": "1E 11 11 1E 14 12 11", "S": "0F 10 10 0E 01 01 1E", "T": "1F 04 04 04 04 04 04",
    "U": "11 11 11 11 11 11 0E", "V": "11 11 11 11 11 0A 04", "W": "11 11 11 15 15 15 0A",
    "X": "11 11 0A 04 0A 11 11", "Y": "11 11 11 0A 04 04 04", "Z": "1F 01 02 04 08 10 1F",
    " ": "00 00 00 00 00 00 00", "-": "00 00 00 1F 00 00 00", "+": "00 04 04 1F 04 04 00",
    ".": "00 00 00 00 00 0C 0C", "%": "18 19 02 04 08 13 03", ":": "00 0C 0C 00 0C 0C 00",
    "(": "02 04 08 08 08 04 02", ")": "08 04 02 02 02 04 08", "/": "00 01 02 04 08 10 00",
    "_": "00 00 00 00 00 00 1F", "*": "00 04 15 0E 15 04 00", "?": "0E 11 01 02 04 00 04",
}
_FONT = {ch: [int(part, 16) for part in rows.split()] for ch, rows in _GLYPHS.items()}
_ADVANCE = 6


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def put(self, x: int, y: int, rgb: tuple[int, int, int], alpha: float = 1.0) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            for k in range(3):
                self.pixels[i + k] = round(alpha * rgb[k] + (1 - alpha) * self.pixels[i + k])

    def line(self, x1: float, y1: float, x2: float, y2: float, rgb: tuple[int, int, int]) -> None:
        steps = max(1, int(max(abs(x2 - x1), abs(y2 - y1))))
        for i in range(steps + 1):
            x, y = x1 + (x2 - x1) * i / steps, y1 + (y2 - y1) * i / steps
            self.put(round(x), round(y), rgb)
            self.put(round(x), round(y) + 1, rgb)

    def band(self, points: Sequence[float], rgb: tuple[int, int, int]) -> None:
        """Even-odd scanline fill of a polygon, blended at 60 %."""
        vertices = list(zip(points[0::2], points[1::2], strict=True))
        top, bottom = int(min(p[1] for p in vertices)), int(max(p[1] for p in vertices))
        for y in range(max(0, top), min(self.height, bottom + 1)):
            crossings = []
            for (ax, ay), (bx, by) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
                if (ay <= y < by) or (by <= y < ay):
                    crossings.append(ax + (y - ay) * (bx - ax) / (by - ay))
            crossings.sort()
            for left, right in zip(crossings[0::2], crossings[1::2], strict=False):
                for x in range(round(left), round(right) + 1):
                    self.put(x, y, rgb, 0.6)

    def dot(self, cx: float, cy: float, rgb: tuple[int, int, int], filled: bool) -> None:
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                distance = dx * dx + dy * dy
                if distance <= 10 and (filled or distance >= 5):
                    self.put(round(cx) + dx, round(cy) + dy, rgb)

    def text(self, x: float, y: float, text: str, rgb: tuple[int, int, int], anchor: str) -> None:
        text = text.upper().replace("–", "-")
        width = len(text) * _ADVANCE
        left = x - (width / 2 if anchor == "middle" else width if anchor == "end" else 0)
        for n, char in enumerate(text):
            rows = _FONT.get(char, _FONT["?"])
            for row, bits in enumerate(rows):
                for col in range(5):
                    if bits & (1 << (4 - col)):
                        self.put(round(left) + n * _ADVANCE + col, round(y) - 7 + row, rgb)

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.pixels[3 * self.width * y: 3 * self.width * (y + 1)])
                       for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def rasterize(width: int, height: int, shapes: Sequence[Shape]) -> bytes:
    """The PNG file of `shapes` on a white canvas."""
    canvas = _Canvas(width, height)
    for s in shapes:
        rgb = _rgb(s.colour)
        if s.kind == "band":
            canvas.band(s.points, rgb)
    for s in shapes:
        rgb, p = _rgb(s.colour), s.points
        if s.kind == "line":
            canvas.line(p[0], p[1], p[2], p[3], rgb)
        elif s.kind == "dot":
            canvas.dot(p[0], p[1], rgb, s.filled)
        elif s.kind == "text":
            canvas.text(p[0], p[1], s.text, rgb, s.anchor)
    return canvas.png()
