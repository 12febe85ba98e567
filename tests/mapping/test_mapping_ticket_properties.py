"""[[ticket_property]]: HubSpot ticket properties per program prefix, validated like contacts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from closedloop.daemon.surveys import Program, SurveyType
from closedloop.integration.errors import ConfigError
from closedloop.mappings.loader import load_mapping

HEADER = 'crm = "{crm}"\n[group]\nname = "closedloop_feedback"\nlabel = "Feedback"\n'
CONTACT = """
[[property]]
name = "{prefix}_last_rating"
label = "Last NPS rating"
type = "number"
field_type = "number"
survey = "nps"
value = "score"
"""
TICKET = """
[[ticket_property]]
name = "{prefix}_rating"
label = "NPS rating ({program})"
type = "number"
field_type = "number"
survey = "nps"
value = "%s"
"""


def _write(tmp_path: Path, body: str, crm: str = "hubspot") -> Path:
    path = tmp_path / f"{crm}.toml"
    path.write_text(HEADER.format(crm=crm) + body, encoding="utf-8")
    return path


def test_bundled_hubspot_mapping_has_score_category_comment_and_date_per_prefix() -> None:
    """Each program prefix gets its own four ticket properties, created on tickets."""
    pro = Program(name="nps-pro", type=SurveyType.NPS, source="hubspot",
                  delay=timedelta(0), company="Acme", prefix="cl_nps_pro")
    mapping = load_mapping("hubspot", programs=[pro])
    names = mapping.ticket_property_names()
    assert [n for n in names if n.startswith("cl_nps_pro_")] == [
        "cl_nps_pro_rating", "cl_nps_pro_category", "cl_nps_pro_comment",
        "cl_nps_pro_answered_at"]
    assert {s.object_type for s in mapping.specs() if s.name in names} == {"tickets"}
    assert "cl_nps_pro_rating" not in mapping.property_names()  # not a contact property


def test_render_ticket_writes_the_programs_prefix_and_clears_a_missing_comment() -> None:
    """An nps-pro answer of 3 without comment: its prefix's values, the comment emptied."""
    pro = Program(name="nps-pro", type=SurveyType.NPS, source="hubspot",
                  delay=timedelta(0), company="Acme", prefix="cl_nps_pro")
    mapping = load_mapping("hubspot", programs=[pro])
    values = mapping.render_ticket({"survey_type": "nps", "program": "nps-pro", "score": 3,
                                    "comment": None, "answered_at": "2026-11-20T09:00:00+00:00",
                                    "ticket_id": "7"})
    assert values == {"cl_nps_pro_rating": "3", "cl_nps_pro_category": "detractor",
                      "cl_nps_pro_comment": "", "cl_nps_pro_answered_at":
                      "2026-11-20T09:00:00.000Z"}


def test_zendesk_mapping_has_no_ticket_properties_and_refuses_them(tmp_path: Path) -> None:
    """Zendesk's ticket-level hook is tags + a note: [[ticket_property]] is one clear error."""
    assert load_mapping("zendesk").ticket_property_names() == []
    body = CONTACT.replace('"number"', '"integer"') + TICKET.replace(
        '"number"', '"integer"') % "score"
    with pytest.raises(ConfigError) as caught:
        load_mapping("zendesk", _write(tmp_path, body, "zendesk"))
    assert caught.value.problems == [
        f"{tmp_path / 'zendesk.toml'}: ticket_property: zendesk takes no ticket properties in "
        "ClosedLoop; its ticket-level hook is [hooks] (tags and a note)"]


@pytest.mark.parametrize("value", ["sent_at", "unsubscribed"])
def test_a_value_the_ticket_hook_does_not_carry_is_refused(tmp_path: Path, value: str) -> None:
    """sent_at and the person's preferences are not known when a ticket is written."""
    with pytest.raises(ConfigError) as caught:
        load_mapping("hubspot", _write(tmp_path, CONTACT + TICKET % value))
    assert any("ticket_property[0].value: " + repr(value) + " is not known when the ticket is "
               "written" in line for line in caught.value.problems)


def test_a_ticket_property_may_share_a_contact_property_name(tmp_path: Path) -> None:
    """Names collide only within an object type: score on both is fine."""
    body = CONTACT + TICKET.replace("{prefix}_rating", "{prefix}_last_rating") % "score"
    mapping = load_mapping("hubspot", _write(tmp_path, body))
    assert (mapping.property_names(), mapping.ticket_property_names()) == (
        ["cl_nps_last_rating"], ["cl_nps_last_rating"])
