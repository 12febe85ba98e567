"""Fixtures for the sandbox tests: a running HubSpot sandbox, a real client, spec checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import NOW, TOKEN, ZD_NOW, make_client, make_zenpy

from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox, ZendeskState

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "hubspot"


@pytest.fixture
def state() -> HubSpotState:
    return HubSpotState.seeded(tickets=50, contacts=40, seed=1, now=NOW)


@pytest.fixture
def sandbox(state: HubSpotState) -> Iterator[HubSpotSandbox]:
    """A sandbox with HubSpot's default limits switched off for search, so paging is quick."""
    with HubSpotSandbox(state, token=TOKEN, search_per_second=0) as sb:
        yield sb




@pytest.fixture
def client(sandbox: HubSpotSandbox) -> Any:
    return make_client(sandbox)


# ---------------------------------------------------------------- spec checks
@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((SPECS / name).read_text())  # type: ignore[no-any-return]


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _check(
    doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str, out: list[str]
) -> None:
    """Small subset of JSON Schema: types, required, properties, items, enums, oneOf."""
    schema = _resolve(doc, schema)
    if value is None:
        if not schema.get("nullable", False) and schema.get("type") not in (None, "null"):
            out.append(f"{where}: null not allowed")
        return
    for key in ("oneOf", "anyOf"):
        if key in schema:
            trials = []
            for sub in schema[key]:
                errs: list[str] = []
                _check(doc, sub, value, where, errs)
                trials.append(errs)
            if all(trials):
                out.append(f"{where}: matches none of {key}: {trials[0]}")
            return
    for sub in schema.get("allOf", []):
        _check(doc, sub, value, where, out)
    kind = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        "number": (int, float),
    }
    if kind in types and (
        not isinstance(value, types[kind])  # type: ignore[arg-type]
        or (kind in ("integer", "number") and isinstance(value, bool))
    ):
        out.append(f"{where}: expected {kind}, got {type(value).__name__}")
        return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        out.extend(
            f"{where}.{req}: missing" for req in schema.get("required", []) if req not in value
        )
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                _check(doc, props[key], item, f"{where}.{key}", out)
            elif isinstance(extra, dict):
                _check(doc, extra, item, f"{where}.{key}", out)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(doc, schema["items"], item, f"{where}[{i}]", out)


def spec_problems(spec_file: str, path: str, method: str, status: str, body: Any) -> list[str]:
    """Where `body` departs from the vendor spec's response schema ([] when it fits)."""
    doc = _load(spec_file)
    response = _resolve(doc, doc["paths"][path][method]["responses"][status])
    schema = response["content"]["application/json"]["schema"]
    out: list[str] = []
    _check(doc, schema, body, "$", out)
    return out


@pytest.fixture
def spec() -> Callable[[str, str, str, str, Any], list[str]]:
    """Validator against ../shared/specs; the test is skipped when the specs are absent."""
    if not SPECS.is_dir():
        pytest.skip("vendor specs (../shared/specs/hubspot) not present")
    return spec_problems


# ---------------------------------------------------------------- Zendesk sandbox


@pytest.fixture
def zd_state() -> ZendeskState:
    return ZendeskState.seeded(tickets=40, seed=3, now=ZD_NOW)


@pytest.fixture
def zd_sandbox(zd_state: ZendeskState) -> Iterator[ZendeskSandbox]:
    """A Zendesk sandbox without the incremental-export limit, so paging is quick."""
    with ZendeskSandbox(zd_state, incremental_per_minute=0) as sb:
        yield sb




@pytest.fixture
def zd(zd_sandbox: ZendeskSandbox, monkeypatch: pytest.MonkeyPatch) -> Any:
    return make_zenpy(zd_sandbox, monkeypatch)
