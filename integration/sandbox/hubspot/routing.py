"""Requests, responses and the path-template router (no framework: it must stay fast)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._http import Request, Response

__all__ = ["Context", "Handler", "Request", "Response", "Route", "Router"]

if TYPE_CHECKING:
    from .state import HubSpotState


@dataclass(frozen=True)
class Context:
    """What a handler may read besides the request: the portal and its credentials."""

    state: HubSpotState
    token: str
    scopes: tuple[str, ...]


Handler = Callable[[Context, Request], Response]


@dataclass(frozen=True)
class Route:
    """One endpoint. `kind` picks the auth/limit policy: crm, search, oauth or admin."""

    method: str
    template: str
    handler: Handler
    kind: str = "crm"
    scopes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The counter key, e.g. "GET /crm/v3/properties/contacts/{name}"."""
        return f"{self.method} {self.template}"


class Router:
    """Matches a path against templates; literal segments win over {params}."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = sorted(routes, key=lambda r: r.template.count("{"))
        self._split = [(r, r.template.strip("/").split("/")) for r in self._routes]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_known). path_known without a route means wrong method."""
        parts = path.strip("/").split("/")
        known = False
        for route, segs in self._split:
            if len(segs) != len(parts):
                continue
            params: dict[str, str] = {}
            for seg, part in zip(segs, parts, strict=True):
                if seg.startswith("{"):
                    if not part:
                        break
                    params[seg[1:-1]] = part
                elif seg != part:
                    break
            else:
                if route.method == method:
                    return route, params, True
                known = True
        return None, {}, known
