"""Reading the small forms the pages post: url-encoded or multipart, strictly UTF-8.

The pages are UTF-8 and say so, so a browser always sends UTF-8. Bytes that are not UTF-8
(a `%FF` escape, a raw 0xFF in a multipart part) come from a broken client or a crafted
request; decoding them loosely (U+FFFD, or Latin-1 as Starlette's multipart parser does) would
store a garbled comment without a word. So each value is decoded strictly: a value that does
not decode is kept decoded with replacement characters (to show it back for correction) and
named in `Form.garbled`, and the caller refuses it. Field names that do not decode, a body
over the limit, more than `MAX_FIELDS` fields, a file part or a malformed body raise FormError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELDS = 10


class FormError(Exception):
    """The body is not a form we accept; `kind` names the error page ("invalid", "too_large")."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class Form:
    """The first value of each field; `garbled` names the fields whose bytes were not UTF-8
    (their value here has U+FFFD where those bytes were)."""

    fields: dict[str, str] = field(default_factory=dict)
    garbled: frozenset[str] = frozenset()

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


async def read_form(stream: AsyncIterator[bytes], content_type: str, content_length: str,
                    limit: int) -> Form:
    """Read at most `limit` bytes whatever Content-Length claims (a chunked body has none)."""
    if content_length.isdigit() and int(content_length) > limit:
        raise FormError("too_large")
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > limit:
            raise FormError("too_large")
    media, options = parse_options_header(content_type)
    if media == b"multipart/form-data":
        pairs = _multipart(bytes(body), options.get(b"boundary", b""))
    else:
        pairs = _urlencoded(bytes(body))
    return _decode(pairs)


def _urlencoded(body: bytes) -> list[tuple[bytes, bytes]]:
    pairs = []
    for part in body.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(name.replace(b"+", b" ")),
                      unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def _multipart(body: bytes, boundary: bytes) -> list[tuple[bytes, bytes]]:
    """The (name, value) of each part, as bytes; a file part or a broken body is an error."""
    if not boundary:
        raise FormError("invalid")
    pairs: list[tuple[bytes, bytes]] = []
    current: dict[str, bytes] = {}
    done: list[bool] = []

    def on_part_begin() -> None:
        current.clear()
        current.update(name=b"", value=b"", header=b"", header_value=b"", disposition=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        current["header_value"] += data[start:end]

    def on_header_end() -> None:
        if current["header"].lower() == b"content-disposition":
            current["disposition"] = current["header_value"]
        current["header"] = current["header_value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["value"] += data[start:end]

    def on_part_end() -> None:
        _, options = parse_options_header(current["disposition"])
        if b"name" not in options or b"filename" in options:
            raise FormError("invalid")
        pairs.append((options[b"name"], current["value"]))

    def on_end() -> None:
        done.append(True)

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end, "on_end": on_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except ValueError as exc:  # python-multipart's parse errors are ValueErrors
        raise FormError("invalid") from exc
    if not done:
        raise FormError("invalid")  # cut short: no closing boundary
    return pairs


def _decode(pairs: list[tuple[bytes, bytes]]) -> Form:
    if len(pairs) > MAX_FIELDS:
        raise FormError("invalid")
    fields: dict[str, str] = {}
    garbled: set[str] = set()
    for raw_name, raw_value in pairs:
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormError("invalid") from exc
        if name in fields:
            continue  # the first value counts
        try:
            fields[name] = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            fields[name] = raw_value.decode("utf-8", errors="replace")
            garbled.add(name)
    return Form(fields, frozenset(garbled))
