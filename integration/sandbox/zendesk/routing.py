"""Requests, responses and the path-template router (no framework: it must stay fast)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import _http
from .._http import Response
from .errors import invalid_value

__all__ = ["Context", "Handler", "Request", "Response", "Route", "Router"]

if TYPE_CHECKING:
    from .jobs import JobStore
    from .state import ZendeskState


@dataclass(frozen=True)
class Context:
    """What a handler may read besides the request: the account, its jobs, its settings."""

    state: ZendeskState
    jobs: JobStore
    me_id: int
    hide_recent_seconds: int


class Request(_http.Request):
    """The shared request with the query helpers Zendesk's handlers use."""

    def arg(self, name: str) -> str | None:
        """The last value of a query parameter (what Rails does with repeated keys)."""
        values = self.query.get(name)
        return values[-1] if values else None

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter, clamped to [low, high] like Zendesk's page sizes."""
        text = self.arg(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise invalid_value(f"{name} must be an integer") from None
        return min(max(value, low), high)

    def api_url(self, path: str) -> str:
        """An absolute URL on this sandbox (zenpy follows next links verbatim)."""
        return f"{self.base_url}/api/v2/{path}"


Handler = Callable[[Context, Request], Response]


@dataclass(frozen=True)
class Route:
    """One endpoint. `kind` picks the rate bucket: api, incremental, export or admin."""

    method: str
    template: str
    handler: Handler
    kind: str = "api"

    @property
    def name(self) -> str:
        """The counter key, e.g. "GET /api/v2/tickets/{id}.json"."""
        return f"{self.method} {self.template}"


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z_]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+?)" if p.startswith("{") else re.escape(p)
                    for p in parts)
    return re.compile(f"^{regex}$")


class Router:
    """Matches a path against templates; templates with fewer {params} win, so
    /tickets/show_many.json is never read as /tickets/{id}.json."""

    def __init__(self, routes: list[Route]) -> None:
        ordered = sorted(routes, key=lambda r: r.template.count("{"))
        self._compiled = [(r, _pattern(r.template)) for r in ordered]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route, pattern in self._compiled:
            if route.method != method:
                continue
            found = pattern.match(path)
            if found:
                return route, found.groupdict()
        return None, {}
