"""`[[users]]` in the config and the scope of a dashboard user.

A scope is `{}` (headquarters: every answer) or one level of `[reporting].scope` with one or
more values (`{region = "north"}`, `{store = ["oslo", "bergen"]}`). Several levels at once
would be ambiguous in the hierarchy, so one level is the rule. The scope is checked against
`[reporting].scope` when the config is loaded and when `closedloop users add` runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MAX_VALUES = 200


class ScopeError(ValueError):
    """A scope that names no level of `[reporting].scope`, or is malformed."""


def _user_name(value: object) -> object:
    if isinstance(value, str) and not USER_NAME.match(value):
        raise ValueError(f"a user name is 1-64 letters, digits, '_', '.', '@' or '-', "
                         f"starting with a letter or digit; got {value!r}")
    return value


def _argon2(value: object) -> object:
    if isinstance(value, str) and not value.startswith("$argon2"):
        raise ValueError("expected an argon2 hash (\"$argon2id$...\"); make one with "
                         "`closedloop users hash`")
    return value


UserName = Annotated[str, BeforeValidator(_user_name)]
PasswordHash = Annotated[str, BeforeValidator(_argon2)]


def normalize_scope(raw: Mapping[str, Any], levels: tuple[str, ...]) -> dict[str, list[str]]:
    """`raw` (level -> value or list of values) checked against the configured levels:
    {} or exactly one known level with 1..MAX_VALUES non-empty values, sorted."""
    if not raw:
        return {}
    if not levels:
        raise ScopeError("no scope levels are configured: set [reporting] scope = [\"region\", "
                         "\"store\"] (segment names), or give this user no scope "
                         "(headquarters)")
    if len(raw) != 1:
        raise ScopeError(f"a scope names one level, got {len(raw)}: {', '.join(sorted(raw))}")
    ((level, value),) = raw.items()
    if level not in levels:
        raise ScopeError(f"unknown scope level {level!r}; expected one of: {', '.join(levels)}")
    values = [value] if isinstance(value, str) else value
    if (not isinstance(values, list) or not values or len(values) > MAX_VALUES
            or not all(isinstance(v, str) and v.strip() for v in values)):
        raise ScopeError(f"scope {level}: expected a value or a list of 1-{MAX_VALUES} "
                         f"non-empty values, got {value!r}")
    return {level: sorted({v.strip() for v in values})}


def parse_scope_text(text: str | None, levels: tuple[str, ...]) -> dict[str, list[str]]:
    """The CLI form: "" / "hq" / "all" -> {}; "store=oslo" or "store=oslo,bergen"."""
    if text is None or text.strip().lower() in ("", "hq", "all", "headquarters"):
        return {}
    level, sep, values = text.partition("=")
    if not sep or not level.strip():
        raise ScopeError(f"expected LEVEL=VALUE[,VALUE...] (e.g. region=north) or hq, "
                         f"got {text!r}")
    return normalize_scope({level.strip(): [v for v in values.split(",") if v.strip()]},
                           levels)


def describe_scope(scope: Mapping[str, list[str]]) -> str:
    if not scope:
        return "headquarters (everything)"
    return "; ".join(f"{level} = {', '.join(values)}" for level, values in scope.items())


class UserSettings(BaseModel):
    """One `[[users]]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: UserName
    password_hash: PasswordHash = Field(repr=False)
    scope: dict[str, str | list[str]] = {}


def users_references(data: Mapping[str, Any]) -> list[str]:
    """[[users]]: names unique, each scope one level of [reporting].scope (raw data, so the
    problems join the field errors of `closedloop check`)."""
    users = data.get("users")
    if not isinstance(users, list):
        return []
    reporting = data.get("reporting")
    raw_levels = reporting.get("scope") if isinstance(reporting, dict) else None
    levels = tuple(x for x in raw_levels if isinstance(x, str)) if isinstance(
        raw_levels, list) else ()
    problems: list[str] = []
    names: set[str] = set()
    for i, user in enumerate(users):
        if not isinstance(user, dict):
            continue
        name = user.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(f"users[{i}].name: {name!r} is used by an earlier user")
            names.add(name)
        scope = user.get("scope", {})
        if isinstance(scope, dict):
            try:
                normalize_scope(scope, levels)
            except ScopeError as exc:
                problems.append(f"users[{i}].scope: {exc}")
    return problems
