"""Property names on program prefixes: expansion, labels, collisions, preferences, forget."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.errors import ConfigError
from closedloop.mappings import load_mapping

ANSWER = {"survey_type": "nps", "program": "nps-pro", "score": 3, "comment": "slow refund",
          "category": "detractor", "answered_at": "2026-11-20T10:15:00+00:00",
          "updated_at": "2026-11-20T10:16:00+00:00"}


def _program(name: str, survey: str = "nps", prefix: str = "") -> Program:
    return Program(name=name, type=SurveyType(survey), source="hubspot",
                   delay=timedelta(hours=1), company="Acme", prefix=prefix)


PROGRAMS = [_program("nps-core"), _program("nps-pro", prefix="cl_nps_pro"),
            _program("support-csat", "csat")]


@pytest.mark.parametrize("crm", ["hubspot", "zendesk"])
def test_each_prefix_gets_every_property_of_its_survey(crm: str) -> None:
    """A program with its own prefix adds one copy of its survey's properties; the defaults
    stay (answers of a removed program land there); shared ones exist once."""
    plain, bound = load_mapping(crm), load_mapping(crm, programs=PROGRAMS)
    extra = sorted(set(bound.property_names()) - set(plain.property_names()))
    nps_own = [n for n in plain.property_names() if n.startswith("cl_nps_")]
    assert extra == sorted(n.replace("cl_nps_", "cl_nps_pro_") for n in nps_own)
    assert len(bound.property_names()) == len(set(bound.property_names()))
    assert bound.property_names().count("cl_feedback_last_survey_type") == 1


def test_labels_name_the_programs_of_their_prefix() -> None:
    """{program} in a label is the programs using that prefix, "default" when none does."""
    labels = {s.name: s.label for s in load_mapping("hubspot", programs=PROGRAMS).specs()}
    assert labels["cl_nps_pro_last_rating"] == "Last NPS rating (nps-pro)"
    assert labels["cl_nps_last_rating"] == "Last NPS rating (nps-core)"
    assert labels["cl_ces_last_rating"] == "Last CES rating (default)"
    assert labels["cl_feedback_last_response_at"] == "Last feedback response at"


def test_render_writes_the_programs_own_prefix() -> None:
    """Two NPS programs write separate properties; an unknown program writes the default."""
    mapping = load_mapping("hubspot", programs=PROGRAMS)
    pro = mapping.render(ANSWER)
    assert pro["cl_nps_pro_last_rating"] == "3"
    assert not any(k.startswith("cl_nps_last") for k in pro)
    assert pro["cl_feedback_last_survey_type"] == "nps"
    gone = mapping.render({**ANSWER, "program": "renamed-since"})
    assert gone["cl_nps_last_rating"] == "3"
    assert mapping.prefix_of("nps-pro", "nps") == "cl_nps_pro"
    assert mapping.prefix_of("nps-pro", "csat") == "cl_csat"  # a prefix of another survey


def test_prefix_shared_by_two_survey_types_is_a_config_error() -> None:
    """One prefix for a CSAT and an NPS program would make both write cl_x_last_rating."""
    with pytest.raises(ConfigError) as caught:
        load_mapping("hubspot", programs=[_program("a", "csat", "cl_x"), _program("b", "nps",
                                                                                   "cl_x")])
    assert caught.value.problems[0] == (
        "programs: prefix 'cl_x' is used for csat and for nps (b); each survey type needs "
        "its own prefix")


def test_prefix_colliding_with_a_shared_property_is_a_config_error(tmp_path: Path) -> None:
    """An expanded name equal to a shared property's name is reported with both origins."""
    path = tmp_path / "m.toml"
    path.write_text('[group]\nname = "g"\nlabel = "G"\n'
                    '[[property]]\nname = "{prefix}_at"\nlabel = "L"\ntype = "datetime"\n'
                    'field_type = "date"\nsurvey = "nps"\nvalue = "answered_at"\n'
                    '[[property]]\nname = "cl_feedback_at"\nlabel = "L"\ntype = "datetime"\n'
                    'field_type = "date"\nsurvey = "any"\nvalue = "updated_at"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mapping("hubspot", path, programs=[_program("n", prefix="cl_feedback")])
    assert caught.value.problems == [
        f"{path}: property 'cl_feedback_at' would hold both nps answered_at (prefix "
        "'cl_feedback') and any updated_at (prefix None); choose another program prefix"]


@pytest.mark.parametrize(("name", "survey", "expected"), [
    ("cl_nps_rating", "nps", "property[0].name: 'cl_nps_rating' needs {prefix} (e.g. "
     "\"{prefix}_last_rating\") so each program's answers get their own property"),
    ("{prefix}_rating", "any", "property[0].name: a survey \"any\" property is shared by every "
     "program and takes no {prefix}"),
    ("{prefx}_rating", "nps", "property[0].name: unknown placeholder {prefx}; expected {prefix}"),
    ("{prefix}-rating", "nps", "property[0].name: '{prefix}-rating' does not make a valid name "
     "(lower-case letters, digits and '_', starting with a letter, max 100)"),
])
def test_name_template_problems(tmp_path: Path, name: str, survey: str, expected: str) -> None:
    """Each template mistake is one line naming the property and the fix."""
    path = tmp_path / "m.toml"
    path.write_text(f'[group]\nname = "g"\nlabel = "G"\n[[property]]\nname = "{name}"\n'
                    f'label = "L"\ntype = "number"\nfield_type = "number"\nsurvey = "{survey}"\n'
                    'value = "score"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mapping("hubspot", path)
    assert caught.value.problems == [f"{path}: {expected}"]


@pytest.mark.parametrize(("crm", "data", "expected"), [
    ("hubspot", {"unsubscribed": True, "snoozed_until": None,
                 "updated_at": "2026-11-20T10:00:00+00:00"},
     {"cl_feedback_unsubscribed": "true", "cl_feedback_snoozed_until": ""}),
    ("hubspot", {"unsubscribed": False, "snoozed_until": "2027-05-21T10:00:00+00:00",
                 "updated_at": "2026-11-20T10:00:00+00:00"},
     {"cl_feedback_unsubscribed": "false",
      "cl_feedback_snoozed_until": "2027-05-21T10:00:00.000Z"}),
    ("zendesk", {"unsubscribed": True, "snoozed_until": None,
                 "updated_at": "2026-11-20T10:00:00+00:00"},
     {"cl_feedback_unsubscribed_on": "2026-11-20", "cl_feedback_snoozed_until": ""}),
    ("zendesk", {"unsubscribed": False, "snoozed_until": "2027-05-21T10:00:00+00:00",
                 "updated_at": "2026-11-20T10:00:00+00:00"},
     {"cl_feedback_unsubscribed_on": "", "cl_feedback_snoozed_until": "2027-05-21"}),
])
def test_preference_renders_only_preference_properties(crm: str, data: dict[str, object],
                                                       expected: dict[str, str]) -> None:
    """A preference writes its properties, clearing what no longer holds; answers never
    touch them, and a preference never touches the re-enrollment timestamp."""
    mapping = load_mapping(crm)
    assert mapping.render(data, kind="preference") == expected
    assert not set(expected) & set(mapping.render({**ANSWER, "program": "x"}))


def test_blank_all_covers_every_prefix() -> None:
    """`forget` blanks every property of every prefix, shared ones included."""
    mapping = load_mapping("hubspot", programs=PROGRAMS)
    blank = mapping.blank_all()
    assert set(blank) == set(mapping.property_names())
    assert {"cl_nps_pro_last_comment", "cl_feedback_unsubscribed"} <= set(blank)
    assert set(blank.values()) == {""}


def test_render_refuses_an_unknown_fact_kind() -> None:
    with pytest.raises(ValueError, match="not a kind of write-back fact"):
        load_mapping("hubspot").render(ANSWER, kind="gossip")
