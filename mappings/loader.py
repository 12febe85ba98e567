"""Load and validate a CRM mapping (mappings/<crm>.toml): which property each result goes to.

A mapping is data: a property group, a list of [[property]] tables (contact properties, or
Zendesk user fields), optional [[ticket_property]] tables (HubSpot only: the answer on the
ticket the survey was about, validated the same way, from a narrower set of values) and
optional [hooks].
Each property names a CRM property (a template on the program's property prefix: "{prefix}_
last_rating"), its type, the survey it belongs to ("csat", "ces", "nps" or "any") and the
value it holds, picked from a closed set of named sources (no expressions, no eval). Every
problem in a file is reported at once, one line each, as a ConfigError; so are properties
that two programs' prefixes would make collide.

The type tables are per CRM, so zendesk.toml (user fields) uses the same loader.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from closedloop.daemon.surveys import CATEGORIES, SCALES, Program, SurveyType
from closedloop.integration.errors import ConfigError
from closedloop.mappings.hooks import parse_hooks
from closedloop.mappings.mapping import (
    PREFERENCE_VALUES,
    SURVEYS,
    VALUES,
    CrmMapping,
    MappedProperty,
    PropertyTemplate,
    default_prefix,
    expand,
)

BUNDLED_DIR = Path(__file__).parent
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_NAME = 100

# CRM -> property type -> (allowed field types, value kind used for formatting)
CRM_TYPES: dict[str, dict[str, tuple[frozenset[str], str]]] = {
    "hubspot": {
        "number": (frozenset({"number"}), "number"),
        "string": (frozenset({"text", "textarea"}), "text"),
        "date": (frozenset({"date"}), "date"),
        "datetime": (frozenset({"date"}), "datetime"),
        "enumeration": (frozenset({"select", "radio"}), "choice"),
        "bool": (frozenset({"booleancheckbox"}), "bool"),
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
    "themes": frozenset({"text"}),
    "unsubscribed": frozenset({"bool", "choice", "text"}),
    "unsubscribed_at": frozenset({"datetime", "date", "text"}),
    "snoozed_until": frozenset({"datetime", "date", "text"}),
}
# What a ticket property can hold: the answer, as the ticket hook row carries it (no sent
# date, no preference of the person: those are about the contact, not the ticket).
TICKET_VALUES = ("score", "comment", "category", "answered_at", "answered_date", "updated_at",
                 "survey_type", "program")
TICKET_PROPERTY_CRMS = frozenset({"hubspot"})
# `[themes] property`: the contact property (HubSpot) / user field (Zendesk) it adds.
THEMES_TYPES = {"hubspot": ("string", "text"), "zendesk": ("text", "text")}
PLACEHOLDERS = {"name": ("prefix",), "label": ("prefix", "program"),
                "description": ("prefix", "program")}


def _one_of(what: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not a known {what}; expected one of {', '.join(allowed)}")
    return value


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=NAME_PATTERN)
    label: str = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    crm: str | None = None
    group: _Group
    property: list[dict[str, Any]] = Field(min_length=1)
    ticket_property: list[dict[str, Any]] = Field(default_factory=list)
    hooks: dict[str, Any] | None = None


class _Property(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
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
    if value == "unsubscribed":
        return {"true", "false"}
    return set()


def _check_templates(where: str, prop: _Property) -> list[str]:
    """Placeholders: `{prefix}` in every survey's own names, none in shared (survey "any")."""
    problems: list[str] = []
    for key, allowed in PLACEHOLDERS.items():
        text = getattr(prop, key)
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            problems.append(f"{where}.{key}: {exc} (write {{{{ and }}}} for literal braces)")
            continue
        if unknown := sorted(used - set(allowed)):
            problems.append(f"{where}.{key}: unknown placeholder {{{unknown[0]}}}; "
                            f"expected {', '.join('{' + a + '}' for a in allowed)}")
    if problems:
        return problems
    has_prefix = "{prefix}" in prop.name
    if prop.survey != "any" and not has_prefix:
        problems.append(f"{where}.name: {prop.name!r} needs {{prefix}} (e.g. "
                        f"\"{{prefix}}_last_rating\") so each program's answers get their own "
                        "property")
    elif prop.survey == "any" and has_prefix:
        problems.append(f"{where}.name: a survey \"any\" property is shared by every program "
                        "and takes no {prefix}")
    elif (sample := prop.name.format(prefix="cl_x")) and not _valid_name(sample):
        problems.append(f"{where}.name: {prop.name!r} does not make a valid name (lower-case "
                        f"letters, digits and '_', starting with a letter, max {MAX_NAME})")
    if prop.value in PREFERENCE_VALUES and prop.survey != "any":
        problems.append(f"{where}.survey: {prop.value!r} is a preference of the person, not of "
                        "a survey; use survey = \"any\"")
    return problems


def _valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME and re.match(NAME_PATTERN, name) is not None


def _check_property(crm: str, where: str, prop: _Property) -> tuple[list[str], str]:
    """Cross-field problems of one property, and its value kind."""
    problems: list[str] = _check_templates(where, prop)
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
    elif kind == "bool":
        if prop.options and set(prop.options) != {"true", "false"}:
            problems.append(f"{where}.options: a {prop.type!r} property's options are "
                            "\"true\" and \"false\"")
    elif prop.options:
        problems.append(f"{where}.options: only choice properties take options")
    return problems, kind


def _read(crm: str, path: Path | None) -> tuple[str, dict[str, Any]]:
    shown = f"mappings/{crm}.toml" if path is None else str(path)
    if crm not in CRM_TYPES:
        raise ConfigError([f"{shown}: no mapping support for CRM {crm!r}; "
                           f"expected one of {', '.join(CRM_TYPES)}"])
    file = BUNDLED_DIR / f"{crm}.toml" if path is None else path
    try:
        return shown, tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read the file ({exc.strerror})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{shown}: not valid TOML ({exc})"]) from exc


def load_mapping(crm: str, path: Path | None = None,
                 programs: Sequence[Program] = (),
                 themes_property: str | None = None) -> CrmMapping:
    """Read and validate a mapping, expanded for `programs` (the source's programs).

    `path` None means the bundled mappings/<crm>.toml. Without programs, each survey type
    gets its default prefix only. `themes_property` (config `[themes] property`) adds a
    shared text property holding the themes of the contact's latest comment.
    """
    shown, raw = _read(crm, path)
    try:
        top = _File.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_lines(f"{shown}: ", exc)) from exc
    problems: list[str] = []
    if top.crm is not None and top.crm != crm:
        problems.append(f"{shown}: crm: the file is for {top.crm!r}, not {crm!r}")
    templates, found = _templates(crm, shown, "property", top.property)
    problems += found
    if themes_property and crm in THEMES_TYPES:
        templates.append(themes_template(crm, themes_property))
    ticket_templates, found = _templates(crm, shown, "ticket_property", top.ticket_property)
    problems += found
    if top.ticket_property and crm not in TICKET_PROPERTY_CRMS:
        problems.append(f"{shown}: ticket_property: {crm} takes no ticket properties in "
                        "ClosedLoop; its ticket-level hook is [hooks] (tags and a note)")
    hooks, hook_problems = parse_hooks(top.hooks, f"{shown}: hooks")
    problems += hook_problems
    if problems:
        raise ConfigError(problems)
    properties, prefixes = _bind(shown, templates, programs)
    ticket_properties, _ = _bind(shown, ticket_templates, programs, object_type="tickets")
    return CrmMapping(crm=crm, group_name=top.group.name, group_label=top.group.label,
                      properties=properties, hooks=hooks, prefixes=prefixes,
                      ticket_properties=ticket_properties)


def themes_template(crm: str, name: str) -> PropertyTemplate:
    """The property `[themes] property` names: text, shared by every program."""
    kind, field_type = THEMES_TYPES[crm]
    return PropertyTemplate(
        name=name, label="Latest comment themes", type=kind, field_type=field_type,
        description="Themes of the contact's latest answer's comment (ClosedLoop theme names, "
                    "comma-separated); empty when that answer has no comment or no theme.",
        survey="any", value="themes", kind="text")


def _templates(crm: str, shown: str, key: str, items: Sequence[dict[str, Any]]
               ) -> tuple[list[PropertyTemplate], list[str]]:
    """Validate one list of property tables ([[property]] or [[ticket_property]])."""
    problems: list[str] = []
    templates: list[PropertyTemplate] = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        where = f"{shown}: {key}[{i}]"
        try:
            prop = _Property.model_validate(item)
        except ValidationError as exc:
            problems += _pydantic_lines(f"{where}.", exc)
            continue
        if (prop.survey, prop.name) in seen:
            problems.append(f"{where}.name: {prop.name!r} is already used by "
                            f"{key}[{seen[prop.survey, prop.name]}]")
        seen.setdefault((prop.survey, prop.name), i)
        found, kind = _check_property(crm, where, prop)
        if key == "ticket_property" and prop.value not in TICKET_VALUES:
            found.append(f"{where}.value: {prop.value!r} is not known when the ticket is "
                         f"written; expected one of {', '.join(TICKET_VALUES)}")
        problems += found
        templates.append(PropertyTemplate(
            name=prop.name, label=prop.label, type=prop.type, field_type=prop.field_type,
            description=prop.description, survey=prop.survey, value=prop.value, kind=kind,
            options=prop.options))
    return templates, problems


def _bind(shown: str, templates: Sequence[PropertyTemplate], programs: Sequence[Program],
          object_type: str = "contacts") -> tuple[tuple[MappedProperty, ...], dict[str, str]]:
    """Expand every template for every (survey, prefix) in use; collisions are ConfigErrors.

    Names collide only within one object type: a ticket property may share a contact
    property's name."""
    users: dict[tuple[str, str], list[str]] = {
        (t.value, default_prefix(t.value)): [] for t in SurveyType}
    for program in programs:
        users.setdefault((program.type.value, program.property_prefix), []).append(program.name)
    problems: list[str] = []
    owner: dict[str, str] = {}
    for (survey, prefix), names in users.items():
        if owner.setdefault(prefix, survey) != survey:
            problems.append(f"programs: prefix {prefix!r} is used for {owner[prefix]} and for "
                            f"{survey} ({', '.join(names) or 'default'}); each survey type "
                            "needs its own prefix")
    out: list[MappedProperty] = []
    for (survey, prefix), names in users.items():
        out += [expand(t, prefix, names, object_type) for t in templates if t.survey == survey]
    out += [expand(t, None, [], object_type) for t in templates if t.survey == "any"]
    first: dict[str, MappedProperty] = {}
    for prop in out:
        if not _valid_name(prop.spec.name):
            problems.append(f"{shown}: {prop.spec.name!r} (prefix {prop.prefix!r}) is not a "
                            f"valid property name (max {MAX_NAME} characters)")
        if (other := first.setdefault(prop.spec.name, prop)) is not prop:
            problems.append(f"{shown}: property {prop.spec.name!r} would hold both "
                            f"{other.survey} {other.value} (prefix {other.prefix!r}) and "
                            f"{prop.survey} {prop.value} (prefix {prop.prefix!r}); choose "
                            "another program prefix")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    prefixes = {p.name: p.property_prefix for p in programs}
    return tuple(out), prefixes
