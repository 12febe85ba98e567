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




def format_string(pieces: tuple[str | int, ...]) -> str:
    """Constant pieces and value slots as one str.format template ("{2}" for value 2):
    joining a mail's values is then one C call."""
    return "".join([piece.replace("{", "{{").replace("}", "}}") if isinstance(piece, str)
                    else f"{{{piece}}}" for piece in pieces])


@dataclass(frozen=True)
class Lines:
    """A part's template in lines, as quoted-printable needs it: runs of constant lines
    already encoded (joined by LF) between the lines that hold values; for each of those,
    its pieces and the UTF-8 length of its constants; and what the encoding's choice reads
    of the constant lines (the longest, and the first ten's raw and encoded lengths)."""

    runs: tuple[str | int, ...]  # an encoded run, or the index of a line with values
    lines: tuple[tuple[str, int, tuple[int, ...]], ...]  # format, constants' size, slots
    longest: int
    head: tuple[int, int, int, tuple[int, ...]]  # lines, raw and QP lengths, value lines


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
    runs: list[str | int] = []
    constant: list[str] = []
    with_values: list[tuple[str, int, tuple[int, ...]]] = []
    longest = 0
    head_raw = head_qp = 0
    head_lines: list[int] = []
    for number, line in enumerate(lines):
        size = sum(len(p.encode("utf-8")) for p in line if isinstance(p, str))
        if all(isinstance(p, str) for p in line):
            encoded = _soft_breaks(_escaped("".join(map(str, line))))
            constant.append(encoded)
            longest = max(longest, size)
            if number < 10:
                head_raw += size
                head_qp += len(encoded)
            continue
        if constant:
            runs.append("\n".join(constant))
            constant = []
        if number < 10:
            head_lines.append(len(with_values))
        runs.append(len(with_values))
        escaped = tuple(_escaped(p) if isinstance(p, str) else p for p in line)
        with_values.append((format_string(escaped), size,
                            tuple(p for p in line if isinstance(p, int))))
    if constant:
        runs.append("\n".join(constant))
    return Lines(tuple(runs), tuple(with_values), longest,
                 (min(len(lines), 10), head_raw, head_qp, tuple(head_lines)))


def encode_lines(template: Lines | None, body: str,
                 values: tuple[str, ...]) -> tuple[str, str]:
    """`encode_body(body)` for a body made from `template` and `values`, the constant
    lines' work done once: only the lines with values are escaped and broken per mail."""
    if template is None or any("\n" in value or "\r" in value for value in values):
        return encode_body(body)
    raw = [value.encode("utf-8") for value in values]
    lengths = [len(data) for data in raw]
    sizes = [size + sum([lengths[slot] for slot in slots]) for _, size, slots in template.lines]
    if max([template.longest, *sizes]) <= _MAX:
        return encode_body(body)  # 7bit or 8bit: the body as it is
    escaped = [_escape(data) for data in raw]
    encoded = [_soft_breaks(line.format(*escaped)) for line, _, _ in template.lines]
    count, head_raw, head_qp, head_lines = template.head
    sniff_qp = head_qp + sum([len(encoded[i]) for i in head_lines]) + count
    sniff = head_raw + sum([sizes[i] for i in head_lines]) + 2 * count
    if sniff_qp > (sniff + 2) // 3 * 4 + 1:
        return encode_body(body)  # base64
    return "quoted-printable", "\n".join(
        [run if isinstance(run, str) else encoded[run] for run in template.runs]) + "\n"
