"""How a bad config is told: each pydantic error as one `key: what is wrong` line, and the
checks that span sections (programs name configured sources, names are unique, a program's
audience fits its CRM), run on the raw data so they join the field errors in one report."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from closedloop.daemon.actions.alerts.settings import alert_references
from closedloop.daemon.insight.settings import reporting_references
from closedloop.daemon.triggers.settings import trigger_references
from closedloop.daemon.web.admin.settings import users_references
from closedloop.daemon.web.widget.settings import widget_references


def mask_url(value: str) -> str:
    """A URL with its password replaced, fit for messages and `config show`."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", value)


_FORM_TAGS = ("question", "work")  # `follow_up`'s union tags: not keys of the file


def location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for index, item in enumerate(loc):
        if item in _FORM_TAGS and index and loc[index - 1] == "follow_up":
            continue
        out += f"[{item}]" if isinstance(item, int) else ("." if out else "") + str(item)
    return out or "(top level)"


def describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; `closedloop init` writes every key, commented)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str):
        value = mask_url(value)
    if isinstance(value, str | int | float) and repr(value) not in message:
        message += f" (got {value!r})"
    return message


def cross_references(data: Mapping[str, Any]) -> list[str]:
    """Checks that span sections; run on the raw data so they join the field errors."""
    programs = data.get("programs")
    if not isinstance(programs, list) or not programs:
        return ["programs: at least one [[programs]] table is needed"]
    sources = data.get("sources")
    known = sorted(sources) if isinstance(sources, dict) else []
    problems: list[str] = []
    seen: set[str] = set()
    for i, program in enumerate(programs):
        if not isinstance(program, dict):
            continue
        name, source = program.get("name"), program.get("source")
        if isinstance(name, str):
            if name in seen:
                problems.append(f"programs[{i}].name: {name!r} is used by an earlier program")
            seen.add(name)
        if isinstance(source, str) and known and source not in known:
            problems.append(f"programs[{i}].source: {source!r} is not a configured source; "
                            f"expected one of: {', '.join(known)}")
        elif isinstance(source, str) and isinstance(sources, dict):
            crm = sources[source].get("crm") if isinstance(sources.get(source), dict) else None
            if crm == "hubspot" and any(program.get(k) for k in ("organization_id", "tag",
                                                                  "query")):
                problems.append(f"programs[{i}]: a HubSpot program's NPS audience is a list "
                                "(list_id); organization_id, tag and query are for Zendesk")
            if crm == "zendesk" and program.get("list_id"):
                problems.append(f"programs[{i}].list_id: Zendesk has no contact lists; use "
                                "organization_id, tag or query")
    return (problems + alert_references(data) + _webhook_references(data, seen)
            + reporting_references(data) + users_references(data) + widget_references(data)
            + trigger_references(data))


def _webhook_references(data: Mapping[str, Any], programs: set[str]) -> list[str]:
    """[[webhooks]]: names unique, `programs` filters name configured programs."""
    hooks = data.get("webhooks")
    if not isinstance(hooks, list):
        return []
    problems: list[str] = []
    names: set[str] = set()
    for i, hook in enumerate(hooks):
        if not isinstance(hook, dict):
            continue
        name = hook.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(f"webhooks[{i}].name: {name!r} is used by an earlier webhook")
            names.add(name)
        wanted = hook.get("programs")
        if isinstance(wanted, list):
            unknown = [p for p in wanted if isinstance(p, str) and p not in programs]
            if unknown:
                problems.append(f"webhooks[{i}].programs: {', '.join(map(repr, unknown))} "
                                f"is not a configured program; expected some of: "
                                f"{', '.join(sorted(programs))}")
    return problems


