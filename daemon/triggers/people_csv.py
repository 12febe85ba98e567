"""Reading a people list for `closedloop send --csv`: one checked row at a time, never the
whole file, each mistake tied to the line it is on.

The file: a header row, then one person a line. Columns `email` (required), `name`,
`language`, `time zone` (also spelt `time_zone` or `timezone`), and any of the custom
segments of `[reporting.segments]` by name; their order is free, their case and spacing
too. UTF-8 with or without a byte-order mark; `,` or `;` between values (whichever makes
the header name an `email` column). An unknown column or a header without `email` is a
mistake in the file as a whole (nothing is read); a bad value is a mistake in its row only
(the row is rejected with its line number and the rest go on).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from closedloop.daemon.i18n import available_languages, negotiate
from closedloop.integration.errors import ClosedLoopError

DELIMITERS = (",", ";")
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
_EMAIL = re.compile(r"^[^\s@\"<>,;:()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
# Header spellings -> the column they are.
_ALIASES = {"email": "email", "e_mail": "email", "name": "name", "first_name": "name",
            "language": "language", "lang": "language", "time_zone": "timezone",
            "timezone": "timezone", "tz": "timezone"}
_BAD_TEXT = "\ufffd"  # what a byte that is not UTF-8 decodes to (errors="replace")


class PeopleFileError(ClosedLoopError):
    """The file as a whole cannot be read (no header, unknown column, not found): exit 2."""

    usage = True


@dataclass(frozen=True)
class PersonRow:
    """One valid row: who to survey, and what the row says about them."""

    line: int
    email: str
    name: str | None = None
    language: str | None = None  # a shipped language code ("fr"), negotiated from the cell
    timezone: str | None = None  # an IANA name
    segments: dict[str, str] = field(default_factory=dict)  # custom segment -> value


@dataclass(frozen=True)
class RowError:
    """A rejected row: its first line in the file, and why (one short sentence)."""

    line: int
    problem: str


def check_email(value: str) -> str | None:
    """The address trimmed, or None when it cannot be an address (a typo, two of them)."""
    value = value.strip()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        return None
    return value


def check_language(value: str) -> str:
    """The shipped language a cell names ("fr-CA" -> "fr"), else a ValueError naming them."""
    found = _shipped(value.strip())
    if not found:
        raise ValueError(f"unknown language {value.strip()!r} (available: "
                         f"{', '.join(sorted(available_languages()))})")
    return found


@lru_cache(maxsize=512)
def _shipped(tag: str) -> str:
    """negotiate() lists the catalogs on disk each call: a file has few distinct values."""
    return negotiate(tag, fallback="")


@lru_cache(maxsize=512)
def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_timezone(value: str) -> str:
    value = value.strip()
    if not _zone_exists(value):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as "
                         "Europe/Oslo)")
    return value


def person_from(line: int, email: str, name: str | None = None, language: str | None = None,
                timezone: str | None = None,
                segments: dict[str, str] | None = None) -> PersonRow | RowError:
    """One person checked the same way whether from a CSV row or from `send --email`."""
    address = check_email(email)
    if address is None:
        what = email.strip()
        return RowError(line, f"not an e-mail address: {what!r}" if what
                        else "the e-mail address is empty")
    try:
        lang = check_language(language) if language and language.strip() else None
        zone = check_timezone(timezone) if timezone and timezone.strip() else None
    except ValueError as exc:
        return RowError(line, str(exc))
    return PersonRow(line=line, email=address, name=(name or "").strip() or None, language=lang,
                  timezone=zone, segments={k: v.strip() for k, v in (segments or {}).items()
                                           if v and v.strip()})


def header_key(cell: str) -> str:
    """How a header cell is compared: case, spaces and dashes do not matter."""
    return re.sub(r"[\s\-]+", "_", cell.strip().lower())


@dataclass(frozen=True)
class Layout:
    """What the header says: the delimiter, and which column is which."""

    delimiter: str
    columns: tuple[str, ...]  # "email", "name", "language", "timezone" or a segment name


def read_layout(header: str, segments: Collection[str]) -> Layout:
    """The delimiter and columns of a header line; PeopleFileError says what is wrong."""
    header = header.removeprefix("\ufeff").rstrip("\r\n")
    if not header.strip():
        raise PeopleFileError("the file is empty: expected a header row naming an 'email' "
                              "column")
    for delimiter in DELIMITERS:
        cells = [header_key(c) for c in next(csv.reader([header], delimiter=delimiter))]
        if any(_ALIASES.get(c) == "email" for c in cells):
            break
    else:
        raise PeopleFileError(f"line 1: the header has no 'email' column (found: {header!r}; "
                              "values are separated by ',' or ';')")
    columns = []
    unknown = []
    for cell in cells:
        column = _ALIASES.get(cell) or (cell if cell in segments else None)
        if column is None:
            unknown.append(cell or "(empty)")
        elif column in columns:
            raise PeopleFileError(f"line 1: column {cell!r} appears twice")
        else:
            columns.append(column)
    if unknown:
        known = ["email", "name", "language", "time zone", *sorted(segments)]
        raise PeopleFileError(f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
                              f"expected some of: {', '.join(known)} (segment columns are "
                              "the names in [reporting.segments])")
    return Layout(delimiter=delimiter, columns=tuple(columns))


def read_people(lines: Iterable[str], segments: Collection[str] = ()
                ) -> Iterator[PersonRow | RowError]:
    """Each data row of a people file, checked, in file order; blank lines are ignored.

    The header is read at once (a PeopleFileError before any row); the rows as they are
    needed, so a file of any size takes the memory of one row. `lines` are the file's lines
    as text (see `open_people`). A row that spans lines (a quoted value with a line break)
    is reported at its first line.
    """
    source = _numbered(iter(lines))
    first = next(source, None)
    if first is None:
        raise PeopleFileError("the file is empty: expected a header row naming an 'email' "
                              "column")
    return _rows(source, read_layout(first, segments))


def _rows(source: Iterator[str], layout: Layout) -> Iterator[PersonRow | RowError]:
    rows = csv.reader(source, delimiter=layout.delimiter)
    consumed = 1
    for cells in rows:
        line, consumed = consumed + 1, rows.line_num + 1
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(layout.columns):
            yield RowError(line, f"expected {len(layout.columns)} values, found {len(cells)} "
                                 f"(separated by {layout.delimiter!r})")
            continue
        if any(_BAD_TEXT in c for c in cells):
            yield RowError(line, "not UTF-8 text (save the file as UTF-8)")
            continue
        values = dict(zip(layout.columns, cells, strict=True))
        yield person_from(line, values.pop("email"), values.pop("name", None),
                          values.pop("language", None), values.pop("timezone", None),
                          values)


def _numbered(lines: Iterator[str]) -> Iterator[str]:
    """The lines, the byte-order mark of the first removed."""
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix("\ufeff")
    yield from lines


def open_people(path: Path) -> IO[str]:
    """The file as text lines: UTF-8 (a BOM is dropped), a byte that is not UTF-8 becomes
    U+FFFD so its row is rejected instead of the whole file; newline="" as csv wants."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise PeopleFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
