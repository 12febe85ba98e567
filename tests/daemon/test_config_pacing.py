"""The pacing keys of a source: plan defaults per CRM, shares in (0, 1], clear errors for
keys of the other CRM."""

from __future__ import annotations

from typing import Any

import pytest

from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError

ZENDESK = {"crm": "zendesk", "subdomain": "acme", "email": "a@acme.example"}


def _config(source: dict[str, Any]) -> dict[str, Any]:
    return {"sources": {"crm": source}, "mail": {"from_address": "f@acme.example"},
            "programs": [{"name": "csat", "type": "csat", "source": "crm", "company": "A"}]}


def _problems(source: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(_config(source), "config.toml")
    return info.value.problems


def test_plan_defaults_per_crm() -> None:
    """HubSpot: 190 per 10 s, 625,000 a day, 0.9 of the account quotas, all of the app's
    window; Zendesk: 200 a minute (the smallest plan; headers correct it), 0.9 of it."""
    hubspot = parse_config(_config({"crm": "hubspot"}), "c").sources["crm"]
    zendesk = parse_config(_config(ZENDESK), "c").sources["crm"]
    assert (hubspot.rate_limit, hubspot.daily_limit, hubspot.quota_share,
            hubspot.burst_share) == (190, 625_000, 0.9, 1.0)
    assert (zendesk.rate_limit, zendesk.quota_share) == (200, 0.9)


@pytest.mark.parametrize("share", [1.0, 0.001])
def test_share_edges_accepted(share: float) -> None:
    """Both ends of (0, 1] are fine."""
    source = parse_config(_config({"crm": "hubspot", "quota_share": share,
                                   "burst_share": share}), "c").sources["crm"]
    assert (source.quota_share, source.burst_share) == (share, share)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("quota_share", 0, "config.toml: sources.crm.quota_share: Input should be greater than 0"),
    ("quota_share", 1.01, "config.toml: sources.crm.quota_share: Input should be less than or "
                          "equal to 1 (got 1.01)"),
    ("burst_share", 0, "config.toml: sources.crm.burst_share: Input should be greater than 0"),
    ("rate_limit", 0, "config.toml: sources.crm.rate_limit: Input should be greater than or "
                      "equal to 1 (got 0)"),
    ("daily_limit", 0, "config.toml: sources.crm.daily_limit: Input should be greater than or "
                       "equal to 1 (got 0)"),
])
def test_out_of_range_is_one_clear_line(key: str, value: float, expected: str) -> None:
    """A share outside (0, 1] or a limit below 1 is named with what is expected."""
    assert _problems({"crm": "hubspot", key: value}) == [expected]


@pytest.mark.parametrize("key", ["burst_share", "daily_limit"])
def test_hubspot_keys_refused_on_zendesk(key: str) -> None:
    """Zendesk has one per-minute limit: HubSpot's window share and day are refused."""
    problems = _problems({**ZENDESK, key: 1})
    assert len(problems) == 1
    assert problems[0].endswith(f"{key} is a HubSpot setting; Zendesk has one per-minute "
                                "limit (rate_limit, quota_share)")


@pytest.mark.parametrize(("pacing", "paced"), [(True, True), (False, False)])
def test_pacing_switch_builds_the_adapter_with_or_without_its_pacer(
        pacing: bool, paced: bool) -> None:
    """The daemon gives every source a pacer unless `pacing = false`."""
    from closedloop.daemon.env_secrets import Secrets
    from closedloop.daemon.wiring import build_adapter

    config = parse_config(_config({"crm": "hubspot", "pacing": pacing}), "c")
    adapter = build_adapter("crm", config, Secrets(secret_key="s" * 40,  # type: ignore[arg-type]
                                                   source_tokens={"crm": "t"}))
    assert (adapter.pacing_stats() is not None) == paced  # type: ignore[attr-defined]
