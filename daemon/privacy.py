"""`closedloop forget` and `closedloop export`: a person's erasure, everyone's responses.

Forgetting happens in the store in one transaction; the CRM side (blanking every mapped
property of every prefix) goes through the write-back queue, so a CRM outage delays it but
never loses it. Logs name the person by a short hash of the normalized address, never by
the address. Exports stream row by row: a large history never sits in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, TextIO

from closedloop.daemon.logging import get_logger
from closedloop.daemon.store import Store, normalize_email
from closedloop.daemon.store.privacy import ExportRow, ForgetResult
from closedloop.integration.errors import ConfigError

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
COLUMNS = tuple(f.name for f in fields(ExportRow))
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


def write_export(rows: Iterable[ExportRow], out: TextIO, fmt: Format) -> int:
    """Write rows as CSV (header, RFC 4180 quoting) or JSON Lines; returns the row count."""
    if fmt not in FORMATS:
        raise ConfigError([f"export: unknown format {fmt!r}; expected one of "
                           f"{', '.join(FORMATS)}"])
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(getattr(row, c)) for c in COLUMNS])
            count += 1
    else:
        for row in rows:
            out.write(json.dumps({c: _jsonable(getattr(row, c)) for c in COLUMNS},
                                 ensure_ascii=False) + "\n")
            count += 1
    get_logger(job="export").info("privacy.exported", format=fmt, rows=count)
    return count
