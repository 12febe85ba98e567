"""Helpers the sandbox tests import (a module of its own: `conftest` names clash across folders)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from zenpy import Zenpy

from closedloop.integration.sandbox.hubspot import HubSpotSandbox
from closedloop.integration.sandbox.zendesk import ZendeskSandbox

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ZD_NOW = NOW
TOKEN = "sandbox-token"


def make_client(sb: HubSpotSandbox, token: str = TOKEN) -> Any:
    """The real client pointed at the sandbox the way the adapter does it."""
    return HubSpot(access_token=token, host=sb.url, base_url=sb.url)


def make_zenpy(sb: ZendeskSandbox, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    """The real zenpy pointed at the sandbox the way the adapter does it."""
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", sb.netloc)
    options: dict[str, Any] = {"subdomain": sb.subdomain, "email": sb.email,
                               "token": sb.token, "disable_cache": True}
    options.update(kwargs)
    return Zenpy(**options)


def zd_http(sb: ZendeskSandbox, method: str, path: str, *, auth: bool = True,
            **kwargs: Any) -> requests.Response:
    """A plain HTTP call, for the shapes zenpy hides (error bodies, headers, links)."""
    if auth:
        kwargs.setdefault("auth", (f"{sb.email}/token", sb.token))
    return requests.request(method, sb.url + path, timeout=5, **kwargs)
