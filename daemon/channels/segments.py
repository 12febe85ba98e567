"""How many SMS segments a text costs: GSM-7 (with its extension table) or UCS-2.

A text made only of GSM 03.38 characters is sent 7 bits a character: 160 in one segment,
153 a segment when split (the rest is the concatenation header). The extension table's
characters (^ { } \\ [ ~ ] | €) take an escape plus the character: two septets each. Any
other character makes the whole text UCS-2: 70 UTF-16 code units in one segment, 67 a
segment when split (a character outside the BMP, an emoji, is two units). This is the
counting Twilio and the carriers do; the survey texts are tested to fit one segment.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
) - {"\x1b"}
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class Segments:
    """A text's encoding, its length in that encoding's units, and the segments it takes."""

    encoding: str
    units: int
    count: int


def encoding_of(text: str) -> str:
    """GSM-7 when every character is in the basic or extension table, else UCS-2."""
    return GSM7 if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else UCS2


def count_segments(text: str) -> Segments:
    """The segments `text` is sent in (an empty text still costs one)."""
    encoding = encoding_of(text)
    if encoding == GSM7:
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    else:
        units = len(text.encode("utf-16-le")) // 2
    single, split = _LIMITS[encoding]
    count = 1 if units <= single else -(-units // split)
    return Segments(encoding, units, count)
