"""User-field definitions and the validation Zendesk applies to their values.

Zendesk refuses a user update when one custom value does not fit its field's type; the
sandbox does the same so the adapter's handling of per-user job failures is exercised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any, Final

FIELD_TYPES: Final = frozenset({
    "text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "dropdown",
    "multiselect", "lookup"})
_KEY_RE: Final = re.compile(r"^[A-Za-z0-9_]+$")
_INT_RE: Final = re.compile(r"^-?\d+$")
_DEC_RE: Final = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TEXT_MAX: Final = 65_535


class FieldValueError(ValueError):
    """A value that does not fit its user field (the message is Zendesk's details text)."""


def definition_problems(body: Any, taken: set[str]) -> dict[str, list[dict[str, str]]]:
    """Validation errors of a POST /user_fields body, keyed by attribute ({} when valid)."""
    out: dict[str, list[dict[str, str]]] = {}

    def add(attr: str, description: str, error: str = "InvalidValue") -> None:
        out.setdefault(attr, []).append({"description": description, "error": error})

    if not isinstance(body, dict):
        add("user_field", "User field: must be an object")
        return out
    key, kind, title = body.get("key"), body.get("type", "text"), body.get("title")
    if not isinstance(key, str) or not key:
        add("key", "Key: cannot be blank", "BlankValue")
    elif not _KEY_RE.match(key):
        add("key", "Key: is invalid (letters, numbers and underscores only)")
    elif key.lower() in taken:
        add("key", "Key: has already been taken", "DuplicateValue")
    if not isinstance(title, str) or not title.strip():
        add("title", "Title: cannot be blank", "BlankValue")
    if kind not in FIELD_TYPES:
        add("type", f"Type: {kind!r} is not a valid field type")
    if kind in ("dropdown", "multiselect"):
        options = body.get("custom_field_options")
        if not isinstance(options, list) or not options:
            add("custom_field_options", "Custom field options: cannot be blank", "BlankValue")
        elif not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                     and isinstance(o.get("value"), str) and o["value"] for o in options):
            add("custom_field_options", "Custom field options: need a name and a value")
        elif len({o["value"] for o in options}) != len(options):
            add("custom_field_options", "Custom field options: values must be unique",
                "DuplicateValue")
    if kind == "regexp" and not isinstance(body.get("regexp_for_validation"), str):
        add("regexp_for_validation", "Regexp for validation: cannot be blank", "BlankValue")
    return out


def _text(field: dict[str, Any], value: Any) -> Any:
    key = field["key"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldValueError(f"{key}: is not a text value")
    text = str(value)
    if len(text) > TEXT_MAX:
        raise FieldValueError(f"{key}: is too long (maximum is {TEXT_MAX} characters)")
    if field["type"] == "regexp" and not re.fullmatch(
            field.get("regexp_for_validation") or "", text):
        raise FieldValueError(f"{key}: is invalid")
    return text


def _checkbox(field: dict[str, Any], value: Any) -> Any:
    if not isinstance(value, bool):
        raise FieldValueError(f"{field['key']}: must be true or false")
    return value


def _integer(field: dict[str, Any], value: Any) -> Any:
    if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _INT_RE.match(value))):
        raise FieldValueError(f"{field['key']}: is not a number")
    return int(value)


def _decimal(field: dict[str, Any], value: Any) -> Any:
    if isinstance(value, bool) or not (
            isinstance(value, int | float) or (isinstance(value, str) and _DEC_RE.match(value))):
        raise FieldValueError(f"{field['key']}: is not a number")
    return float(value)


def _date(field: dict[str, Any], value: Any) -> Any:
    problem = FieldValueError(f"{field['key']}: is not a date (YYYY-MM-DD)")
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise problem
    try:
        date.fromisoformat(value)
    except ValueError:
        raise problem from None
    return value


def _options(field: dict[str, Any], value: Any) -> Any:
    allowed = [o["value"] for o in field.get("custom_field_options", [])]
    many = field["type"] == "multiselect"
    values = value if many and isinstance(value, list) else [value]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise FieldValueError(f"{field['key']}: {bad[0]!r} is not one of the options")
    return list(values) if many else value


_COERCE: Final[dict[str, Callable[[dict[str, Any], Any], Any]]] = {
    "text": _text, "textarea": _text, "regexp": _text, "lookup": _text,
    "checkbox": _checkbox, "integer": _integer, "decimal": _decimal, "date": _date,
    "dropdown": _options, "multiselect": _options,
}


def coerce_value(field: dict[str, Any], value: Any) -> Any:
    """The stored form of `value` for `field`, or FieldValueError. None blanks the field."""
    if value is None:
        return None
    return _COERCE[field["type"]](field, value)


def coerce_values(fields: dict[str, dict[str, Any]], values: Any) -> dict[str, Any]:
    """Validate a whole `user_fields` object; the first problem raises FieldValueError."""
    if not isinstance(values, dict):
        raise FieldValueError("user_fields: must be an object")
    out: dict[str, Any] = {}
    for key, value in values.items():
        field = fields.get(str(key).lower())
        if field is None:
            raise FieldValueError(f"{key}: is not a user field")
        out[field["key"]] = coerce_value(field, value)
    return out
