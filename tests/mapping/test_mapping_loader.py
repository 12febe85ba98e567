"""mappings.load_mapping: the bundled HubSpot mapping, one clear line per problem, render()."""

from __future__ import annotations

from pathlib import Path

import pytest

from closedloop.daemon.surveys import CATEGORIES, SurveyType
from closedloop.integration.errors import ConfigError
from closedloop.mappings.loader import load_mapping

BUNDLED = Path(__file__).resolve().parents[2] / "mappings" / "hubspot.toml"

GOOD_PROPERTY = """
[[property]]
name = "{prefix}_last_rating"
label = "Last NPS rating"
type = "number"
field_type = "number"
survey = "nps"
value = "score"
"""


def _write(tmp_path: Path, body: str, header: str = 'crm = "hubspot"\n[group]\n'
           'name = "closedloop_feedback"\nlabel = "Feedback"\n') -> Path:
    path = tmp_path / "hubspot.toml"
    path.write_text(header + body, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_mapping("hubspot", path)
    return caught.value.problems


def test_bundled_mapping_loads_with_every_survey_covered() -> None:
    """The bundled file names the group and, per survey, rating/comment/answered/category/sent,
    plus the survey-agnostic last-response timestamp; categories match daemon.surveys."""
    mapping = load_mapping("hubspot")
    names = mapping.property_names()
    assert (mapping.group_name, mapping.group_label) == (
        "closedloop_feedback", "Customer feedback (ClosedLoop)")
    for survey in ("csat", "ces", "nps"):
        for part in ("rating", "comment", "answered_at", "category", "sent_at"):
            assert f"cl_{survey}_last_{part}" in names
    assert "cl_feedback_last_response_at" in names
    specs = {s.name: s for s in mapping.specs()}
    for survey in SurveyType:
        assert specs[f"cl_{survey}_last_category"].options == CATEGORIES[survey]
    assert (specs["cl_nps_last_answered_at"].type,
            specs["cl_nps_last_answered_at"].field_type) == ("datetime", "date")
    assert len(names) == len(set(names))


def test_bundled_file_equals_explicit_path() -> None:
    """Passing the bundled file's path gives the same mapping as the default."""
    assert load_mapping("hubspot", BUNDLED) == load_mapping("hubspot")


def test_unknown_value_names_the_property_and_the_choices(tmp_path: Path) -> None:
    """A typo in `value` gives one line with file, index, key and the allowed names."""
    path = _write(tmp_path, GOOD_PROPERTY.replace(
        'name = "{prefix}_last_rating"', 'name = "{prefix}_a"') + GOOD_PROPERTY.replace(
        '"score"', '"scroe"'))
    assert _problems(path) == [
        f"{path}: property[1].value: 'scroe' is not a known value; expected one of score, "
        "comment, category, answered_at, answered_date, sent_at, updated_at, survey_type, program, "
        "themes, unsubscribed, unsubscribed_at, snoozed_until"]


def test_bundled_path_is_shown_as_mappings_slash_name(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Problems in the bundled file are reported as 'mappings/hubspot.toml: ...'."""
    _write(tmp_path, GOOD_PROPERTY.replace('"nps"', '"nsp"'))
    monkeypatch.setattr("closedloop.mappings.loader.BUNDLED_DIR", tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_mapping("hubspot")
    assert caught.value.problems == [
        "mappings/hubspot.toml: property[0].survey: 'nsp' is not a known survey; "
        "expected one of csat, ces, nps, any"]


@pytest.mark.parametrize(("change", "expected"), [
    (('field_type = "number"', 'field_type = "textarea"'),
     "property[0].field_type: 'textarea' does not go with type 'number'; expected one of number"),
    (('type = "number"', 'type = "integer"'),
     "property[0].type: 'integer' is not a hubspot property type; expected one of number, "
     "string, date, datetime, enumeration, bool"),
    (('value = "score"', 'value = "comment"'),
     "property[0].value: 'comment' cannot be stored in a 'number' property"),
    (('survey = "nps"', 'survey = "nps"\ncolour = "red"'), "property[0].colour: unknown key"),
    (('label = "Last NPS rating"\n', ''), "property[0].label: is required"),
])
def test_each_kind_of_property_error(tmp_path: Path, change: tuple[str, str],
                                     expected: str) -> None:
    """Bad pairs, unknown types/keys, missing keys: one line each, prefixed with the file."""
    path = _write(tmp_path, GOOD_PROPERTY.replace(*change))
    assert _problems(path) == [f"{path}: {expected}"]


def test_enumeration_needs_options_covering_the_categories(tmp_path: Path) -> None:
    """An enumeration without options, and one missing a category, are both reported."""
    body = """
[[property]]
name = "{prefix}_a"
label = "A"
type = "enumeration"
field_type = "select"
survey = "nps"
value = "category"

[[property]]
name = "{prefix}_b"
label = "B"
type = "enumeration"
field_type = "select"
survey = "ces"
value = "category"
options = ["easy", "difficult"]
"""
    path = _write(tmp_path, body)
    assert _problems(path) == [
        f"{path}: property[0].options: a 'enumeration' property needs options",
        f"{path}: property[1].options: missing neutral"]


def test_duplicate_names_and_all_problems_at_once(tmp_path: Path) -> None:
    """Every problem in the file is listed together, duplicates pointing at the first use."""
    path = _write(tmp_path, GOOD_PROPERTY + GOOD_PROPERTY.replace('"nps"', '"xyz"')
                  + GOOD_PROPERTY)
    assert _problems(path) == [
        f"{path}: property[1].survey: 'xyz' is not a known survey; expected one of csat, "
        "ces, nps, any",
        f"{path}: property[2].name: '{{prefix}}_last_rating' is already used by property[0]"]


def test_file_level_problems(tmp_path: Path) -> None:
    """Bad TOML, a missing file, an unknown CRM and a file for another CRM are each one line."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[group\n", encoding="utf-8")
    assert _problems(bad)[0].startswith(f"{bad}: not valid TOML")
    missing = tmp_path / "nope.toml"
    assert _problems(missing)[0].startswith(f"{missing}: cannot read the file")
    with pytest.raises(ConfigError) as caught:
        load_mapping("salesforce")
    assert caught.value.problems == [
        "mappings/salesforce.toml: no mapping support for CRM 'salesforce'; "
        "expected one of hubspot, zendesk"]
    other = _write(tmp_path, GOOD_PROPERTY, header='crm = "zendesk"\n[group]\nname = "g"\n'
                   'label = "G"\n')
    assert f"{other}: crm: the file is for 'zendesk', not 'hubspot'" in _problems(other)


ANSWER = {"survey_type": "nps", "program": "nps-q", "score": 3, "comment": "slow refund",
          "category": "detractor", "answered_at": "2026-11-20T10:15:00+00:00",
          "updated_at": "2026-11-20T10:16:00+00:00", "sent_at": "2026-11-19T09:00:00+00:00"}


def test_render_nps_answer() -> None:
    """An NPS answer fills the NPS properties and the survey-agnostic ones, as HubSpot strings."""
    assert load_mapping("hubspot").render(ANSWER) == {
        "cl_nps_last_rating": "3",
        "cl_nps_last_comment": "slow refund",
        "cl_nps_last_answered_at": "2026-11-20T10:15:00.000Z",
        "cl_nps_last_category": "detractor",
        "cl_nps_last_sent_at": "2026-11-19T09:00:00.000Z",
        "cl_feedback_last_response_at": "2026-11-20T10:16:00.000Z",  # updated_at
        "cl_feedback_last_survey_type": "nps",
    }


@pytest.mark.parametrize(("survey", "score", "category"), [
    ("csat", 5, "satisfied"), ("ces", 2, "difficult"), ("nps", 9, "promoter")])
def test_render_each_survey_touches_only_its_own_properties(survey: str, score: int,
                                                            category: str) -> None:
    """A CSAT/CES/NPS answer writes cl_<survey>_* and cl_feedback_*, nothing of the others;
    a missing category is derived from the score."""
    data = {**ANSWER, "survey_type": survey, "score": score, "category": None,
            "answered_at": "2026-11-20T23:30:00-02:00"}
    out = load_mapping("hubspot").render(data)
    assert {k.split("_")[1] for k in out} == {survey, "feedback"}
    assert out[f"cl_{survey}_last_rating"] == str(score)
    assert out[f"cl_{survey}_last_category"] == category
    assert out[f"cl_{survey}_last_answered_at"] == "2026-11-21T01:30:00.000Z"  # in UTC


def test_render_comment_rules() -> None:
    """The newest answer without a comment clears the comment (no pairing a new score with
    an old comment); an older one leaves it alone."""
    mapping = load_mapping("hubspot")
    data = {**ANSWER, "comment": None}
    assert mapping.render(data)["cl_nps_last_comment"] == ""
    assert "cl_nps_last_comment" not in mapping.render(data, newest=False)


def test_render_sent_event_writes_only_sent_at() -> None:
    """A "survey sent" fact touches only the sent-at property of its survey."""
    sent = {"survey_type": "ces", "program": "ces-support", "sent_at": "2026-11-19T09:00:00Z"}
    assert load_mapping("hubspot").render(sent) == {
        "cl_ces_last_sent_at": "2026-11-19T09:00:00.000Z"}


def test_render_date_property_is_midnight_utc_date(tmp_path: Path) -> None:
    """A `date` property gets YYYY-MM-DD of the UTC day (HubSpot wants midnight UTC)."""
    path = _write(tmp_path, """
[[property]]
name = "{prefix}_last_answered_on"
label = "Last NPS answer date"
type = "date"
field_type = "date"
survey = "nps"
value = "answered_date"
""")
    late_evening = {**ANSWER, "answered_at": "2026-11-20T23:30:00-02:00"}
    out = load_mapping("hubspot", path).render(late_evening)
    assert out == {"cl_nps_last_answered_on": "2026-11-21"}


def test_render_refuses_unknown_survey_type() -> None:
    """Data for a survey type that does not exist is a bug upstream: ValueError."""
    with pytest.raises(ValueError, match="not a known survey type"):
        load_mapping("hubspot").render({**ANSWER, "survey_type": "pulse"})
