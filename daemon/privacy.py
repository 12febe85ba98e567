"""`closedloop forget` and `closedloop export`: a person's erasure, everyone's responses.

Forgetting happens in the store in one transaction; the CRM side (blanking every mapped
property of every prefix) goes through the write-back queue, so a CRM outage delays it but
never loses it. Logs name the person by a short hash of the normalized address, never by
the address. Exports stream row by row: a large history never sits in memory.

Custom segments (`sends.segments`: region, store, ... captured when a survey is queued)
are kept by `forget`, like the program, team and pipeline of the scrubbed send: they are
attributes of the business, not of the person, and they keep response rates per store
right after an erasure (the person's answers themselves are deleted). They add nothing
that identifies the person: the scrubbed row keeps the CRM record ids anyway, and the
config refuses a segment on a property that names or reaches a person (e-mail, names,
phone, address: see daemon.insight.settings.IDENTIFYING). A custom field that holds
personal data under another name is the admin's to keep out of `[reporting.segments]`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, TextIO

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store, normalize_email
from closedloop.daemon.store.privacy import ExportRow, ForgetResult
from closedloop.integration.errors import ConfigError

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
# The fixed columns; custom segments follow as one "segment.NAME" column each (CSV) or a
# "segments" object (JSON Lines).
COLUMNS = tuple(f.name for f in fields(ExportRow) if f.name != "segments")
SEGMENT_PREFIX = "segment."
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
# A spreadsheet runs a cell that starts with these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def person_ref(email: str) -> str:
    """A stable, non-reversible-at-a-glance reference for logs: never the address itself."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:12]


def check_address(email: str) -> None:
    """ConfigError for something that is not an e-mail address (before touching anything)."""
    if not _ADDRESS.match(email.strip()):
        raise ConfigError([f"forget: expected an e-mail address such as ada@example.com, "
                           f"got {email!r}"])


def forget_person(store: Store, email: str, now: datetime) -> ForgetResult:
    """Erase one person by address; ConfigError for something that is not an address."""
    check_address(email)
    result = store.forget(email, now)
    get_logger(job="forget").info(
        "privacy.forgotten" if result.found else "privacy.unknown_person",
        person=person_ref(email), responses=result.responses, sends=result.sends_scrubbed,
        cancelled=result.sends_cancelled, contacts=len(result.contacts), alerts=result.alerts,
        erasures=result.erasures)
    return result


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _csv_cell(value: Any) -> Any:
    """Dates in ISO 8601; free text that a spreadsheet would run as a formula gets a '."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def write_export(rows: Iterable[ExportRow], out: TextIO, fmt: Format,
                 segments: Sequence[str] = ()) -> int:
    """Write rows as CSV (header, RFC 4180 quoting) or JSON Lines; returns the row count.

    Custom segments: in CSV one column per configured segment (`segments`, as
    "segment.region"), so a spreadsheet filters and pivots on them like on any column, with
    no JSON to pick apart in a cell; empty when the row has no value. JSON Lines carries
    the whole captured object ("segments"), including names no longer configured.
    """
    if fmt not in FORMATS:
        raise ConfigError([f"export: unknown format {fmt!r}; expected one of "
                           f"{', '.join(FORMATS)}"])
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([*COLUMNS, *(SEGMENT_PREFIX + s for s in segments)])
        for row in rows:
            captured = row.segments or {}
            writer.writerow([*(_csv_cell(getattr(row, c)) for c in COLUMNS),
                             *(_csv_cell(captured.get(s)) for s in segments)])
            count += 1
    else:
        for row in rows:
            out.write(json.dumps({**{c: _jsonable(getattr(row, c)) for c in COLUMNS},
                                  "segments": row.segments},
                                 ensure_ascii=False) + "\n")
            count += 1
    get_logger(job="export").info("privacy.exported", format=fmt, rows=count)
    return count
