"""A text part's Content-Transfer-Encoding and payload, as the email package makes them.

`email.contentmanager.set_text_content` picks 7bit when every line is short ASCII, 8bit when
short but not ASCII, else quoted-printable or base64 by which encodes the first ten lines
shorter; `quoprimime.body_encode` then encodes line by line (escape, then soft breaks). A
prepared template (prepared.py) knows its lines before any mail: a line without a value is
encoded once, a line with one has its constant pieces escaped once and only its values
escaped and its soft breaks placed per mail. `encode_body` is the same rule for any text.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from closedloop.daemon.delivery.mime import POLICY

_MAX = POLICY.max_line_length or 78
# quoprimime's body map: printable ASCII but "=" as is, with space, tab and line ends.
_BODY_MAP = [f"={c:02X}" for c in range(256)]
for _c in bytes(range(0x20, 0x7F)).replace(b"=", b"") + b"\t\r\n":
    _BODY_MAP[_c] = chr(_c)


def _escape(data: bytes) -> str:
    """Bytes escaped as quoted-printable, not yet broken into lines."""
    return data.decode("latin-1").translate(_BODY_MAP)


def _escaped(text: str) -> str:
    return _escape(text.encode("utf-8"))


def _soft_breaks(line: str) -> str:
    """One escaped line with quoprimime.body_encode's soft breaks (its loop, for one line)."""
    pieces = []
    start = 0
    laststart = len(line) - 1 - _MAX
    while start <= laststart:
        stop = start + _MAX - 1
        if line[stop - 2] == "=":  # never break inside an escape
            pieces.append(line[start:stop - 1])
            start = stop - 2
        elif line[stop - 1] == "=":
            pieces.append(line[start:stop])
            start = stop - 1
        else:
            pieces.append(line[start:stop] + "=")
            start = stop
    if line and line[-1] in " \t":
        room = start - laststart
        if room >= 3:
            end = f"={ord(line[-1]):02X}"
        elif room == 2:
            end = line[-1] + "=\n"
        else:
            end = f"=\n={ord(line[-1]):02X}"
        pieces.append(line[start:-1] + end)
    else:
        pieces.append(line[start:])
    return "\n".join(pieces)


def _base64(data: bytes) -> str:
    step = _MAX // 4 * 3  # as email.contentmanager writes base64
    return "".join([binascii.b2a_base64(data[i:i + step]).decode("ascii")
                    for i in range(0, len(data), step)])


def _short(lines: list[bytes]) -> tuple[str, str] | None:
    """7bit or 8bit when no line is longer than the policy's limit, else None."""
    if max(map(len, lines), default=0) > _MAX:
        return None
    normal = b"\n".join(lines) + b"\n"
    if normal.isascii():
        return "7bit", normal.decode("ascii")
    if POLICY.cte_type == "8bit":
        return "8bit", normal.decode("ascii", "surrogateescape")
    return None


def _choose(lines: list[bytes], encoded: list[str]) -> tuple[str, str]:
    """Quoted-printable unless base64 writes the first ten lines shorter (the stdlib's sniff:
    QP lines joined by LF with one after the last, against base64 of them joined by CRLF)."""
    head = lines[:10]
    sniff_qp = sum(map(len, encoded[:10])) + len(head)
    sniff = sum(map(len, head)) + 2 * len(head)
    if sniff_qp > (sniff + 2) // 3 * 4 + 1:  # len(binascii.b2a_base64(sniff))
        return "base64", _base64(b"\r\n".join(lines) + b"\r\n")
    return "quoted-printable", "\n".join(encoded) + "\n"


def encode_body(body: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload) as set_text_content makes them for a utf-8 text."""
    lines = body.encode("utf-8").splitlines()
    short = _short(lines)
    if short is not None:
        return short
    return _choose(lines, [_soft_breaks(_escape(line)) for line in lines])


@dataclass(frozen=True)
class Lines:
    """A part's template in lines: a constant line as it is encoded, or the pieces of one
    with values (constants escaped, an int for a value)."""

    lines: tuple[str | tuple[str | int, ...], ...]


def cut_lines(pieces: tuple[str | int, ...]) -> Lines | None:
    """The template's lines, or None when they could depend on the values (a constant with
    a CR, which a value could join with an LF; a text not ending with a line end)."""
    lines: list[list[str | int]] = []
    current: list[str | int] = []
    for piece in pieces:
        if isinstance(piece, int):
            current.append(piece)
            continue
        if "\r" in piece:
            return None
        *ended, rest = piece.split("\n")
        for chunk in ended:
            lines.append([*current, chunk] if chunk else current)
            current = []
        if rest:
            current.append(rest)
    if current:
        return None
    return Lines(tuple(_line(line) for line in lines))


def _line(pieces: list[str | int]) -> str | tuple[str | int, ...]:
    constant = [piece for piece in pieces if isinstance(piece, str)]
    if len(constant) == len(pieces):
        return _soft_breaks(_escaped("".join(constant)))
    return tuple(_escaped(piece) if isinstance(piece, str) else piece for piece in pieces)


def encode_lines(template: Lines | None, body: str,
                 values: tuple[str, ...]) -> tuple[str, str]:
    """`encode_body(body)` for a body made from `template` and `values`, the constant
    lines' work done once."""
    if template is None or any("\n" in value or "\r" in value for value in values):
        return encode_body(body)
    lines = body.encode("utf-8").splitlines()
    if len(lines) != len(template.lines):
        return encode_body(body)
    short = _short(lines)
    if short is not None:
        return short
    escaped = [_escaped(value) for value in values]
    encoded = [line if isinstance(line, str) else
               _soft_breaks("".join([p if isinstance(p, str) else escaped[p] for p in line]))
               for line in template.lines]
    return _choose(lines, encoded)
