"""`[widget.sites.NAME]`: the sites and apps that embed the widget, validated when the config
loads; their identity-verification secrets are read from the environment.

A site names the origins its pages are served from (CORS answers only those), the programs
(channel = "web") whose survey it may show, in order of preference, and how long "Not now"
keeps the card away from a person.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from closedloop.daemon.config_types import parse_duration
from closedloop.integration.errors import ConfigError

MIN_SECRET = 32  # characters: an identity secret is a long random string


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _origin(value: object) -> object:
    """scheme://host[:port], as a browser sends it in `Origin`: no path, no trailing slash."""
    if not isinstance(value, str):
        return value
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or \
            parsed.path not in ("", "/") or parsed.query or parsed.fragment or \
            parsed.username or parsed.password:
        raise ValueError(f"expected an origin such as https://app.example.com (scheme, host "
                         f"and optional port, no path), got {value!r}")
    return f"{parsed.scheme}://{parsed.netloc.lower()}"


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Origin = Annotated[str, BeforeValidator(_origin)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SiteName = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SiteSettings(BaseModel):
    """One `[widget.sites.NAME]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_env: EnvName = ""  # default: CLOSEDLOOP_WIDGET_<NAME>_SECRET
    origins: tuple[Origin, ...]
    programs: tuple[str, ...]  # the first one due is shown
    not_now: Duration = timedelta(days=14)  # "Not now" keeps the card away this long

    @field_validator("origins", "programs")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("list at least one")
        return value

    @field_validator("not_now")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("expected a positive duration such as \"14d\"")
        return value


class WidgetSettings(BaseModel):
    """`[widget]`: the embedding sites, by name (the `data-site` of the script tag)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: dict[str, SiteSettings] = {}

    @field_validator("sites")
    @classmethod
    def _names(cls, value: dict[str, SiteSettings]) -> dict[str, SiteSettings]:
        for name in value:
            if not SiteName.match(name):
                raise ValueError(f"site name {name!r}: lower-case letters, digits, '-' or '_' "
                                 "(max 63)")
        return value


def secret_env(name: str, site: SiteSettings) -> str:
    return site.secret_env or f"CLOSEDLOOP_WIDGET_{name.upper().replace('-', '_')}_SECRET"


@dataclass(frozen=True)
class Site:
    """A site as the widget routes use it; the secret never prints."""

    name: str
    secret: bytes
    origins: frozenset[str]
    programs: tuple[str, ...]
    not_now: timedelta

    def __repr__(self) -> str:
        return f"Site(name={self.name!r}, origins={sorted(self.origins)!r})"


def widget_sites(settings: WidgetSettings, env: Mapping[str, str] | None = None) -> dict[str, Site]:
    """Each site with its secret from the environment; a ConfigError names every missing or
    too-short one at once."""
    environ = os.environ if env is None else env
    problems: list[str] = []
    sites: dict[str, Site] = {}
    for name, site in settings.sites.items():
        var = secret_env(name, site)
        value = environ.get(var, "").strip()
        if len(value) < MIN_SECRET:
            state = "is not set" if not value else f"is shorter than {MIN_SECRET} characters"
            problems.append(f"widget.sites.{name}.secret_env: environment variable {var} "
                            f"{state} (expected a long random string, e.g. from `python -c "
                            "'import secrets; print(secrets.token_urlsafe(32))'`)")
        sites[name] = Site(name, value.encode(), frozenset(site.origins), site.programs,
                           site.not_now)
    if problems:
        raise ConfigError(problems)
    return sites


def widget_references(data: Mapping[str, Any]) -> list[str]:
    """Cross-section checks: a site's programs exist and are in-page ones (channel = "web");
    a web program is not an NPS list program (nothing would show it on a cadence)."""
    programs = data.get("programs")
    by_name = {p.get("name"): p for p in programs if isinstance(p, dict)} \
        if isinstance(programs, list) else {}
    problems = [f"programs[{i}]: an in-page program (channel = \"web\") has no NPS audience; "
                "remove list_id, organization_id, tag or query"
                for i, p in enumerate(programs if isinstance(programs, list) else [])
                if isinstance(p, dict) and p.get("channel") == "web"
                and any(p.get(k) for k in ("list_id", "organization_id", "tag", "query"))]
    widget = data.get("widget")
    sites = widget.get("sites") if isinstance(widget, dict) else None
    if not isinstance(sites, dict):
        return problems
    for name, site in sites.items():
        wanted = site.get("programs") if isinstance(site, dict) else None
        for program in wanted if isinstance(wanted, list) else []:
            found = by_name.get(program)
            if found is None:
                problems.append(f"widget.sites.{name}.programs: {program!r} is not a "
                                f"configured program; expected some of: "
                                f"{', '.join(sorted(str(n) for n in by_name))}")
            elif found.get("channel") != "web":
                problems.append(f"widget.sites.{name}.programs: {program!r} is an e-mail "
                                "program; set channel = \"web\" on it (closed tickets then "
                                "never mail it)")
    return problems


def widget_problems(settings: WidgetSettings, env: Mapping[str, str] | None = None) -> list[str]:
    """`closedloop check`: the sites' secret problems, as lines (none when all are set)."""
    try:
        widget_sites(settings, env)
    except ConfigError as exc:
        return list(exc.problems)
    return []
