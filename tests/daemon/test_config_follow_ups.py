"""[programs.follow_up] and [rules.business_hours]: parsed, validated with clear messages, and
the rule that picks answers (both sides of the score range and the comment condition)."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def config(follow_up: Any, rules: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"from_address": "feedback@acme.example"},
        "rules": rules or {},
        "programs": [{"name": "nps", "type": "nps", "source": "hubspot", "company": "Acme",
                      "follow_up": follow_up}],
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return "\n".join(info.value.problems)


def test_string_follow_up_stays_the_question() -> None:
    """`follow_up = "..."` is still the question and makes no follow-up work."""
    cfg = parse_config(config("Why?"))
    assert cfg.program_list()[0].follow_up == "Why?"
    assert cfg.rules.follow_up_rules(cfg.programs) == {}


def test_table_carries_the_question_and_the_rule() -> None:
    """A table gives the question via `question` and a rule in the rules' business hours."""
    cfg = parse_config(config(
        {"question": "What went wrong?", "scores": [0, 6], "deadline": "2h", "owner": "7"},
        rules={"default_timezone": "Europe/Oslo",
               "business_hours": {"days": ["mon"], "hours": ["08:00", "16:00"],
                                  "holidays": [date(2026, 12, 28)]}}))
    assert cfg.program_list()[0].follow_up == "What went wrong?"
    rule = cfg.rules.follow_up_rules(cfg.programs)["nps"]
    assert ("Europe/Oslo", timedelta(hours=2), "7") == (rule.zone, rule.deadline, rule.owner)
    assert (frozenset({0}), time(8, 0), frozenset({date(2026, 12, 28)})) == (
        rule.calendar.days, rule.calendar.opens, rule.calendar.holidays)


@pytest.mark.parametrize(("follow_up", "rules", "expected"), [
    ({"comment": "with"}, None, "categories"),
    ({"scores": [6, 0]}, None, "low <= high"),
    ({"categories": ["detractor"], "assign_to": "configured"}, None, "needs owner"),
    ({"categories": ["detractor"], "ticket_url": "https://x/no-placeholder"}, None,
     "ticket_url"),
    ({"categories": ["detractor"]}, {"business_hours": {"hours": ["17:00", "09:00"]}},
     "opens, closes"),
    ({"categories": ["detractor"]}, {"business_hours": {"days": []}}, "working day"),
    ({"categories": ["detractor"], "timezone": "Mars/Base"}, None, "IANA"),
])
def test_bad_settings_are_named(follow_up: dict[str, Any], rules: dict[str, Any] | None,
                                expected: str) -> None:
    """Each mistake is a ConfigError line naming what is wrong, never a traceback."""
    assert re.search(re.escape(expected), problems(config(follow_up, rules)))


def test_rule_edges() -> None:
    """scores [0, 6]: 6 in, 7 out; categories match outside the range; comment 'with'
    needs a non-blank comment, 'without' refuses one."""
    cfg = parse_config(config({"scores": [0, 6], "categories": ["passive"]}))
    rule = cfg.rules.follow_up_rules(cfg.programs)["nps"]
    assert (rule.wants(6, "detractor", None),
                                   rule.wants(7, "promoter", None),
                                   rule.wants(8, "passive", None)) == (True, False, True)
    with_comment = parse_config(config({"scores": [0, 6], "comment": "with"}))
    rule = with_comment.rules.follow_up_rules(with_comment.programs)["nps"]
    assert (rule.wants(3, "detractor", None),
                                    rule.wants(3, "detractor", "  "),
                                    rule.wants(3, "detractor", "slow")) == (False, False, True)
    without = parse_config(config({"scores": [0, 6], "comment": "without"}))
    rule = without.rules.follow_up_rules(without.programs)["nps"]
    assert (rule.wants(3, "detractor", None),
                             rule.wants(3, "detractor", "slow")) == (True, False)


def test_default_calendar_due_date() -> None:
    """Defaults: Monday-Friday 09:00-17:00 UTC, 8 h: Friday 16:00 -> Monday 16:00."""
    cfg = parse_config(config({"categories": ["detractor"]}))
    rule = cfg.rules.follow_up_rules(cfg.programs)["nps"]
    assert datetime(2026, 12, 7, 16, 0, tzinfo=UTC) == rule.due_at(
        datetime(2026, 12, 4, 16, 0, tzinfo=UTC))


def test_example_blocks_parse_when_uncommented() -> None:
    """The commented [programs.follow_up] and [rules.business_hours] of the example config,
    uncommented, are valid."""
    text = (ROOT / "config.example.toml").read_text()
    hours = re.search(r"# \[rules\.business_hours\]\n((?:# .*\n)+)", text)
    work = re.search(r"# \[programs\.follow_up\]\n((?:# .*\n)+)", text)
    assert hours is not None
    assert work is not None
    table = "[rules.business_hours]\n" + re.sub(r"^# ", "", hours.group(1), flags=re.M)
    table += "[follow_up]\n" + re.sub(r"^# ", "", work.group(1), flags=re.M)
    data = tomllib.loads(table)
    cfg = parse_config(config(data["follow_up"], {"business_hours": data["rules"]
                                                  ["business_hours"]}))
    assert "nps" in cfg.rules.follow_up_rules(cfg.programs)


def test_a_misspelt_key_names_the_table_key_only() -> None:
    """A typo in the table is one line naming programs[0].follow_up.<key>, not a complaint
    that the value is not a string (the other form of follow_up)."""
    found = problems(config({"categries": ["detractor"], "scores": [0, 6]}))
    assert found == ("config: programs[0].follow_up.categries: unknown key (check the "
                     "spelling; `closedloop init` writes every key, commented)")
