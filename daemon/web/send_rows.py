"""A `sends` row as the driver returns it, made the store's SendRecord without SQLAlchemy's
execution around it: the score pages' held reader (web/answering.py's `_SendReader`).
PostgreSQL's one trip reads fewer columns (store/score_reads.py's PageSend)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from closedloop.daemon.store import SendRecord
from closedloop.daemon.store.records import SEND_TIMES, from_db, send_record
from closedloop.daemon.store.sends import SENDS


class SendRows:
    """A `sends` row as the driver returns it -> SendRecord, as `send_record` makes it from
    SQLAlchemy's row (the columns' own result processors, datetimes made aware UTC), without
    SQLAlchemy's execution around it. The record's fields are set in one go: a frozen
    dataclass's `__init__` sets 35 fields one `object.__setattr__` at a time, and that and
    the dict copies were most of a score page's store read."""

    def __init__(self, engine: Engine) -> None:
        columns = list(SENDS.c)
        self._names = [c.name for c in columns]
        convert = [
            _aware(c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None))
            if c.name in SEND_TIMES else
            c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
            for c in columns]
        # only the columns that have a processor are visited (the times, JSON on some drivers)
        self._convert: list[tuple[str, Callable[[Any], Any]]] = [
            (name, f) for name, f in zip(self._names, convert, strict=True) if f is not None]
        self._direct = set(self._names) == {f.name for f in fields(SendRecord)}

    def record(self, row: Any) -> SendRecord:
        values = dict(zip(self._names, row, strict=True))
        for name, convert in self._convert:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        if not self._direct:  # a column that is no field (or the reverse): the checked way
            return send_record(values)
        record = object.__new__(SendRecord)
        record.__dict__.update(values)
        return record


def _aware(convert: Callable[[Any], Any] | None) -> Callable[[Any], datetime]:
    """A datetime column's processor, then `from_db` (aware UTC, as `send_record` does)."""
    if convert is None:
        return from_db
    return lambda value: from_db(convert(value))
