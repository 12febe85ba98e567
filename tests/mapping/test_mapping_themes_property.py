"""`[themes] property`: the mapping gains one shared text property holding the themes of the
contact's latest comment; its value follows the comment (emptied with it)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from closedloop.daemon.insight.themes import ThemeMatcher, default_themes
from closedloop.integration.errors import ConfigError
from closedloop.mappings import load_mapping

ANSWER = {"survey_type": "csat", "program": "support-csat", "score": 2,
          "category": "unsatisfied", "answered_at": "2026-11-20T09:00:00+00:00",
          "updated_at": "2026-11-20T09:00:00+00:00", "language": "fr"}


@pytest.mark.parametrize(("crm", "kind"), [("hubspot", ("string", "text")),
                                           ("zendesk", ("text", "text"))])
def test_the_property_is_created_as_text(crm: str, kind: tuple[str, str]) -> None:
    mapping = load_mapping(crm, themes_property="cl_feedback_last_themes")
    [spec] = [s for s in mapping.specs() if s.name == "cl_feedback_last_themes"]
    assert (spec.type, spec.field_type, spec.label) == (*kind, "Latest comment themes")
    assert "cl_feedback_last_themes" not in load_mapping(crm).property_names()


def test_a_name_already_mapped_is_refused() -> None:
    with pytest.raises(ConfigError, match="cl_feedback_last_survey_type"):
        load_mapping("hubspot", themes_property="cl_feedback_last_survey_type")


def test_rendered_from_the_comment_and_emptied_without_one() -> None:
    """The comment's themes, comma-separated, in the survey's language; an answer without a
    comment (the newest) empties it, as it empties the comment."""
    mapping = replace(load_mapping("hubspot", themes_property="cl_themes"),
                      comment_themes=ThemeMatcher(default_themes()).assign)
    written = mapping.render({**ANSWER, "comment": "Colis abîmé, remboursement svp"})
    assert written["cl_themes"] == "delivery,product_quality,refund_return"
    assert mapping.render({**ANSWER, "comment": None})["cl_themes"] == ""
    assert mapping.render({**ANSWER, "comment": "Merci"})["cl_themes"] == ""


def test_without_a_matcher_the_property_is_left_alone() -> None:
    mapping = load_mapping("hubspot", themes_property="cl_themes")
    assert "cl_themes" not in mapping.render({**ANSWER, "comment": "Colis abîmé"})
