"""Load and validate a CRM mapping (mappings/<crm>.toml): which property each result goes to.

A mapping is data: a property group and a list of [[property]] tables, each naming a CRM
property, its type, the survey it belongs to ("csat", "ces", "nps" or "any") and the value
it holds, picked from a closed set of named sources (no expressions, no eval). Every
problem in a file is reported at once, one line each, as a ConfigError.

The type tables are per CRM, so zendesk.toml (user fields) uses the same loader.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daemon.surveys import CATEGORIES, SCALES, SurveyType, category
from integration.base import PropertySpec
from integration.errors import ConfigError

BUNDLED_DIR = Path(__file__).parent
SURVEYS = ("csat", "ces", "nps", "any")
VALUES = ("score", "comment", "category", "answered_at", "answered_date", "sent_at",
          "updated_at", "survey_type", "program")
MAX_TEXT = 65_000  # HubSpot string properties hold 65,536 characters

# CRM -> property type -> (allowed field types, value kind used for formatting)
CRM_TYPES: dict[str, dict[str, tuple[frozenset[str], str]]] = {
    "hubspot": {
        "number": (frozenset({"number"}), "number"),
        "string": (frozenset({"text", "textarea"}), "text"),
        "date": (frozenset({"date"}), "date"),
        "datetime": (frozenset({"date"}), "datetime"),
        "enumeration": (frozenset({"select", "radio"}), "choice"),
    },
    "zendesk": {  # user field types; field_type repeats the type
        "integer": (frozenset({"integer"}), "number"),
        "text": (frozenset({"text"}), "text"),
        "textarea": (frozenset({"textarea"}), "text"),
        "date": (frozenset({"date"}), "date"),
        "dropdown": (frozenset({"dropdown"}), "choice"),
    },
}
# value source -> the kinds of property that can hold it
VALUE_KINDS: dict[str, frozenset[str]] = {
    "score": frozenset({"number", "text", "choice"}),
    "comment": frozenset({"text"}),
    "category": frozenset({"choice", "text"}),
    "answered_at": frozenset({"datetime", "date", "text"}),
    "answered_date": frozenset({"date", "text"}),
    "sent_at": frozenset({"datetime", "date", "text"}),
    "updated_at": frozenset({"datetime", "date", "text"}),
    "survey_type": frozenset({"choice", "text"}),
    "program": frozenset({"choice", "text"}),
}


def _one_of(what: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not a known {what}; expected one of {', '.join(allowed)}")
    return value


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    crm: str | None = None
    group: _Group
    property: list[dict[str, Any]] = Field(min_length=1)


class _Property(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)
    label: str = Field(min_length=1)
    type: str
    field_type: str
    description: str = ""
    survey: str
    value: str
    options: tuple[str, ...] = ()

    @field_validator("survey")
    @classmethod
    def _survey(cls, v: str) -> str:
        return _one_of("survey", v, SURVEYS)

    @field_validator("value")
    @classmethod
    def _value(cls, v: str) -> str:
        return _one_of("value", v, VALUES)


@dataclass(frozen=True)
class MappedProperty:
    """One validated [[property]]: the CRM spec plus where its value comes from."""

    spec: PropertySpec
    survey: str
    value: str
    kind: str


def _pydantic_lines(prefix: str, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "value_error":
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "is required"
        else:
            msg = err["msg"]
        lines.append(f"{prefix}{where}: {msg}")
    return lines


def _required_options(survey: str, value: str) -> set[str]:
    """Option values an enumeration must offer so that every possible value renders."""
    types = [SurveyType(survey)] if survey != "any" else list(SurveyType)
    if value == "category":
        return {c for t in types for c in CATEGORIES[t]}
    if value == "score":
        return {str(p) for t in types for p in SCALES[t].points}
    if value == "survey_type":
        return {t.value for t in SurveyType}
    return set()


def _check_property(crm: str, where: str, prop: _Property) -> tuple[list[str], str]:
    """Cross-field problems of one property, and its value kind."""
    problems: list[str] = []
    types = CRM_TYPES[crm]
    if prop.type not in types:
        problems.append(f"{where}.type: {prop.type!r} is not a {crm} property type; "
                        f"expected one of {', '.join(types)}")
        return problems, ""
    field_types, kind = types[prop.type]
    if prop.field_type not in field_types:
        problems.append(f"{where}.field_type: {prop.field_type!r} does not go with type "
                        f"{prop.type!r}; expected one of {', '.join(sorted(field_types))}")
    if kind not in VALUE_KINDS[prop.value]:
        problems.append(f"{where}.value: {prop.value!r} cannot be stored in a {prop.type!r} "
                        f"property")
    if kind == "choice":
        if not prop.options:
            problems.append(f"{where}.options: a {prop.type!r} property needs options")
        elif missing := sorted(_required_options(prop.survey, prop.value) - set(prop.options)):
            problems.append(f"{where}.options: missing {', '.join(missing)}")
    elif prop.options:
        problems.append(f"{where}.options: only choice properties take options")
    return problems, kind


def load_mapping(crm: str, path: Path | None = None) -> CrmMapping:
    """Read and validate a mapping; `path` None means the bundled mappings/<crm>.toml."""
    shown = f"mappings/{crm}.toml" if path is None else str(path)
    if crm not in CRM_TYPES:
        raise ConfigError([f"{shown}: no mapping support for CRM {crm!r}; "
                           f"expected one of {', '.join(CRM_TYPES)}"])
    file = BUNDLED_DIR / f"{crm}.toml" if path is None else path
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read the file ({exc.strerror})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{shown}: not valid TOML ({exc})"]) from exc
    try:
        top = _File.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_lines(f"{shown}: ", exc)) from exc
    problems: list[str] = []
    if top.crm is not None and top.crm != crm:
        problems.append(f"{shown}: crm: the file is for {top.crm!r}, not {crm!r}")
    mapped: list[MappedProperty] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(top.property):
        where = f"{shown}: property[{i}]"
        try:
            prop = _Property.model_validate(item)
        except ValidationError as exc:
            problems += _pydantic_lines(f"{where}.", exc)
            continue
        if prop.name in seen:
            problems.append(f"{where}.name: {prop.name!r} is already used by "
                            f"property[{seen[prop.name]}]")
        seen.setdefault(prop.name, i)
        found, kind = _check_property(crm, where, prop)
        problems += found
        spec = PropertySpec(name=prop.name, label=prop.label, type=prop.type,
                            field_type=prop.field_type, description=prop.description,
                            options=prop.options)
        mapped.append(MappedProperty(spec=spec, survey=prop.survey, value=prop.value, kind=kind))
    if problems:
        raise ConfigError(problems)
    return CrmMapping(crm=crm, group_name=top.group.name, group_label=top.group.label,
                      properties=tuple(mapped))


def _utc(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _format(prop: MappedProperty, raw: Any) -> str:
    """One value as the CRM wants it: closed set of formats chosen by the property's kind."""
    if prop.value in ("answered_at", "answered_date", "sent_at", "updated_at"):
        when = _utc(raw)
        if prop.kind == "date" or prop.value == "answered_date":
            return when.date().isoformat()  # a date property takes midnight UTC
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if prop.kind == "number":
        return str(int(raw))
    text = str(raw)
    if prop.kind == "choice" and text not in prop.spec.options:
        raise ValueError(f"{text!r} is not an option of {prop.spec.name}")
    return text[:MAX_TEXT]


@dataclass(frozen=True)
class CrmMapping:
    """A validated mapping: what `setup` creates and how a result becomes property values."""

    crm: str
    group_name: str
    group_label: str
    properties: tuple[MappedProperty, ...]

    def specs(self) -> list[PropertySpec]:
        return [p.spec for p in self.properties]

    def property_names(self) -> list[str]:
        return [p.spec.name for p in self.properties]

    def render(self, data: Mapping[str, Any], *, newest: bool = True) -> dict[str, str]:
        """Property strings for one write-back fact (an answer, or a "survey sent" event).

        An answer (a `score` is present) writes every property of its survey and the
        survey-agnostic ones; a "sent" fact writes only `sent_at` properties. A missing
        value leaves its property alone, except the comment of the newest answer: it is
        cleared (""), so the record never pairs a new score with an older answer's comment.
        Pass `newest=False` for an answer that is not the contact's latest.
        Raises ValueError for data no property can hold (an unknown survey type, a
        category that is not an option): a bug upstream, not a CRM problem.
        """
        survey = str(data.get("survey_type") or "")
        _one_of("survey type", survey, SURVEYS[:-1])
        values = dict(data)
        is_answer = values.get("score") is not None
        if is_answer:
            values.setdefault("answered_date", values.get("answered_at"))
            if not values.get("category"):
                values["category"] = category(SurveyType(survey), int(values["score"]))
        out: dict[str, str] = {}
        for prop in self.properties:
            if prop.survey not in (survey, "any"):
                continue
            if prop.value != "sent_at" and not is_answer:
                continue
            raw = values.get(prop.value)
            if prop.value == "comment" and not raw:
                if newest:
                    out[prop.spec.name] = ""
                continue
            if raw is None or raw == "":
                continue
            out[prop.spec.name] = _format(prop, raw)
        return out
