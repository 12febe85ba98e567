"""`[[alerts]]` validation: every mistake is one clear line naming the key, at load."""

from __future__ import annotations

from typing import Any

import pytest

from closedloop.daemon.actions.alerts.settings import channel_secrets
from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError

BASE: dict[str, Any] = {
    "sources": {"hubspot": {"crm": "hubspot"}},
    "mail": {"from_address": "feedback@acme.example"},
    "programs": [{"name": "support-csat", "type": "csat", "source": "hubspot",
                  "company": "Acme"}],
}


def problems(*alerts: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, "alerts": list(alerts)})
    return caught.value.problems


SLACK = {"name": "a", "channel": "slack", "url": "https://hooks.slack.example/x"}


def test_a_valid_rule_of_each_kind_loads() -> None:
    """One rule per kind and channel loads; the defaults are a per-answer rule."""
    config = parse_config({**BASE, "alerts": [
        {**SLACK, "categories": ["unsatisfied"], "comment_words": ["refund"]},
        {**SLACK, "name": "b", "kind": "csat_share", "threshold": 75, "last": 50},
        {**SLACK, "name": "c", "kind": "nps_drop", "threshold": 10, "window": "30d",
         "segment_by": "team", "channel": "teams"},
        {"name": "d", "kind": "response_rate", "threshold": 20, "window": "7d",
         "channel": "email", "to": ["ops@acme.example"], "language": "fr"},
        {"name": "e", "kind": "no_answers", "window": "3d", "channel": "webhook",
         "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
    ]})
    assert [a.kind for a in config.alerts] == ["answer", "csat_share", "nps_drop",
                                               "response_rate", "no_answers"]


@pytest.mark.parametrize(("alert", "expected"), [
    ({**SLACK, "comment_regex": "(a+)+$"},
     "alerts[0].comment_regex: nested repetition such as (a+)+"),
    ({**SLACK, "comment_regex": "x" * 201},
     "alerts[0].comment_regex: a comment_regex is at most 200 characters"),
    ({**SLACK, "comment_regex": "(unclosed"},
     "alerts[0].comment_regex: not a valid regular expression"),
    ({**SLACK, "kind": "csat_share", "last": 10},
     "alerts[0]: threshold is required for kind = \"csat_share\""),
    ({**SLACK, "kind": "csat_share", "threshold": 75},
     "alerts[0]: give exactly one of last"),
    ({**SLACK, "kind": "csat_share", "threshold": 175, "last": 5},
     "alerts[0]: threshold is a percentage from 0 to 100"),
    ({**SLACK, "threshold": 5}, "alerts[0]: threshold: for rolling alerts"),
    ({**SLACK, "kind": "no_answers"}, "alerts[0]: window is required"),
    ({"name": "a", "channel": "email"}, "alerts[0]: to is required"),
    ({"name": "a", "channel": "webhook", "url": "https://x.example"},
     "alerts[0]: secret_env is required"),
    ({**SLACK, "url": "ftp://x"}, "alerts[0].url: expected an http(s) URL"),
    ({**SLACK, "segment": {"region": ["eu"]}}, "alerts[0].segment.region.[key]: unknown segment"),
    ({**SLACK, "programs": ["nope"]}, "alerts[0].programs: 'nope' is not a configured"),
    ({**SLACK, "colour": "red"}, "alerts[0].colour: unknown key"),
])
def test_mistakes_name_the_key(alert: dict[str, Any], expected: str) -> None:
    """The message starts with the key path (config: alerts[i].key) and says what is wrong."""
    found = problems(alert)
    assert any(p.startswith(f"config: {expected}") or expected in p for p in found), found


def test_repeated_names_are_refused() -> None:
    """Two rules with one name would share breach state: refused."""
    assert "config: alerts[1].name: 'a' is used by an earlier alert" in problems(SLACK, SLACK)


def test_url_env_and_secret_env_read_from_the_environment() -> None:
    """Missing variables are all reported at once; present ones give the URL and secret."""
    config = parse_config({**BASE, "alerts": [
        {"name": "e", "channel": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}]})
    with pytest.raises(ConfigError) as caught:
        channel_secrets(config.alerts, {})
    assert caught.value.problems == [
        "alerts[0].url_env: environment variable HOOK_URL is not set (expected the webhook "
        "webhook URL)",
        "alerts[0].secret_env: environment variable HOOK_SECRET is not set (expected a "
        "whsec_... secret)"]
    assert channel_secrets(config.alerts, {"HOOK_URL": "https://h.example/x",
                                           "HOOK_SECRET": "whsec_abc"}) == {
        "e": ("https://h.example/x", "whsec_abc")}


def test_the_commented_examples_in_config_example_load() -> None:
    """Uncommenting the [[alerts]] examples of config.example.toml gives a valid config."""
    import re
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text("utf-8")
    head, _, examples = text.partition("# [[alerts]]")
    examples = examples.split("\n\n", 1)[0]  # the alert examples end at the blank line
    uncommented = re.sub(r"(?m)^# ?", "", "# [[alerts]]" + examples)
    config = parse_config(tomllib.loads(head + uncommented))
    assert [a.name for a in config.alerts] == ["detractors-slack", "csat-by-team", "silence"]


def test_config_show_hides_webhook_urls() -> None:
    """An incoming-webhook URL written in the file is a credential: `config show` keeps only
    its scheme and host."""
    from closedloop.daemon.config import redacted

    config = parse_config({**BASE, "alerts": [
        {**SLACK, "url": "https://hooks.slack.example/services/T0/B0/secretpart"}]})
    assert redacted(config)["alerts"][0]["url"] == "https://hooks.slack.example/***"
