"""[hooks]: validation one line per problem, and the ticket update an answer makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from closedloop.integration.base import TicketUpdate
from closedloop.integration.errors import ConfigError
from closedloop.mappings import load_mapping

BASE = ('[group]\nname = "g"\nlabel = "G"\n[[property]]\nname = "{prefix}_r"\nlabel = "R"\n'
        'type = "integer"\nfield_type = "integer"\nsurvey = "csat"\nvalue = "score"\n')
ANSWER = {"ticket_id": "42", "survey_type": "csat", "program": "support-csat", "score": 2,
          "category": "unsatisfied", "comment": "Slow, and rude"}


def _load(tmp_path: Path, hooks: str) -> list[str]:
    path = tmp_path / "zendesk.toml"
    path.write_text(BASE + hooks, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mapping("zendesk", path)
    return [line.removeprefix(f"{path}: ") for line in caught.value.problems]


def test_bundled_zendesk_hooks_tag_every_category_and_note() -> None:
    """zendesk.toml tags each (survey, category) with a closedloop_ tag and adds a note."""
    hooks = load_mapping("zendesk").hooks
    assert hooks.note is True
    assert hooks.tags["csat"] == {"unsatisfied": "closedloop_csat_bad",
                                  "satisfied": "closedloop_csat_good"}
    assert set(hooks.tags["nps"]) == {"detractor", "passive", "promoter"}
    assert set(hooks.tags["ces"]) == {"difficult", "neutral", "easy"}
    assert load_mapping("hubspot").hooks.tags == {}  # HubSpot tickets have no tags


def test_ticket_update_has_the_tag_and_a_note_with_the_whole_answer() -> None:
    """Score on its scale, category, comment and program are in the private note."""
    update = load_mapping("zendesk").hooks.ticket_update("42", ANSWER)
    assert update == TicketUpdate(
        ticket_id="42", add_tags=("closedloop_csat_bad",),
        note="ClosedLoop: CSAT answer 2/5 (unsatisfied), program support-csat.\n"
             "Comment: Slow, and rude")


def test_category_is_derived_and_missing_comment_said() -> None:
    update = load_mapping("zendesk").hooks.ticket_update(
        "7", {**ANSWER, "survey_type": "nps", "score": 10, "category": None, "comment": None})
    assert update is not None
    assert update.add_tags == ("closedloop_nps_promoter",)
    assert update.note is not None
    assert update.note.endswith("(promoter), program support-csat.\nNo comment.")


def test_no_hook_configured_means_no_update(tmp_path: Path) -> None:
    path = tmp_path / "zendesk.toml"
    path.write_text(BASE + '[hooks]\nnote = false\n[hooks.tags.nps]\ndetractor = "d"\n',
                    encoding="utf-8")
    hooks = load_mapping("zendesk", path).hooks
    assert hooks.ticket_update("42", ANSWER) is None  # a CSAT answer: no CSAT tag, no note
    assert hooks.enabled


def test_every_hook_problem_is_one_line(tmp_path: Path) -> None:
    problems = _load(tmp_path, '[hooks]\nnote = "yes"\ncolour = 1\n[hooks.tags.pulse]\n'
                     'x = "y"\n[hooks.tags.csat]\nbad = "t"\nsatisfied = "Has Space"\n')
    assert problems == [
        "hooks.note: expected true or false, got 'yes'",
        "hooks.colour: unknown key; expected note or tags",
        "hooks.tags.pulse: 'pulse' is not a survey type; expected one of csat, ces, nps",
        "hooks.tags.csat.bad: 'bad' is not a csat category; expected one of unsatisfied, "
        "satisfied",
        "hooks.tags.csat.satisfied: expected a tag such as \"closedloop_csat_satisfied\" "
        "(lower-case, no spaces, max 80), got 'Has Space'",
    ]
