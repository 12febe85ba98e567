"""daemon.insight.capture: which properties each source reads, and a send's segments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from closedloop.daemon.insight.capture import captured, properties_to_read, segment_warnings
from closedloop.daemon.insight.settings import ReportingSettings
from closedloop.integration.base import Contact, Ticket
from closedloop.integration.errors import TransientError

REPORTING = ReportingSettings(segments={
    "region": "contact.region",
    "store": {"hubspot": "ticket.store", "zendesk": "ticket.360001234"},
    "tier": {"zendesk": "contact.plan"},
})
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_properties_to_read_per_source_and_object() -> None:
    """Each source reads its own spelling; a segment a source lacks is not read there."""
    assert properties_to_read(REPORTING, "hubspot", "ticket") == ("store",)
    assert properties_to_read(REPORTING, "hubspot", "contact") == ("region",)
    assert properties_to_read(REPORTING, "zendesk", "ticket") == ("360001234",)
    assert properties_to_read(REPORTING, "zendesk", "contact") == ("region", "plan")
    assert properties_to_read(ReportingSettings(), "hubspot", "ticket") == ()


def test_captured_maps_crm_names_to_segment_names() -> None:
    """Values found become name -> text; a missing or empty value leaves its segment out;
    nothing at all is None (stored NULL), so "no segments" reads one way."""
    ticket = Ticket(id="1", closed_at=T0, properties={"360001234": "oslo", "store": "x"})
    contact = Contact(id="2", email=None, properties={"region": "north", "plan": ""})
    assert captured(REPORTING, "zendesk", ticket, contact) == {"region": "north",
                                                               "store": "oslo"}
    assert captured(REPORTING, "hubspot", ticket, None) == {"store": "x"}
    assert captured(REPORTING, "zendesk", None, Contact(id="3", email=None)) is None
    assert captured(ReportingSettings(), "zendesk", ticket, contact) is None


@pytest.mark.parametrize("where", ["contact.email", "contact.FirstName", "ticket.subject",
                                   {"hubspot": "contact.phone"}])
def test_a_segment_may_not_name_the_person(where: Any) -> None:
    """Segments are kept after `forget`: properties that name or reach a person are
    refused with a reason."""
    with pytest.raises(ValidationError, match="names or reaches a person"):
        ReportingSettings(segments={"who": where})


class _Adapter:
    name = "zendesk"

    def __init__(self, undefined: dict[str, list[str]] | Exception) -> None:
        self.undefined = undefined
        self.asked: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def undefined_properties(self, tickets: tuple[str, ...],
                             contacts: tuple[str, ...]) -> dict[str, list[str]]:
        self.asked.append((tuple(tickets), tuple(contacts)))
        if isinstance(self.undefined, Exception):
            raise self.undefined
        return self.undefined


def test_segment_warnings_name_each_segment_that_would_capture_nothing() -> None:
    """One line per segment on an undefined property; a CRM that cannot be asked is one
    line; no segments for the source: the CRM is not asked at all."""
    adapter = _Adapter({"ticket": ["360001234"], "contact": []})
    assert segment_warnings(REPORTING, "zendesk", adapter) == [  # type: ignore[arg-type]
        "sources.zendesk: segment 'store' reads ticket property '360001234', which zendesk "
        "does not define: it will capture nothing"]
    assert adapter.asked == [(("360001234",), ("region", "plan"))]
    down = _Adapter(TransientError("503"))
    assert segment_warnings(REPORTING, "zendesk", down) == [  # type: ignore[arg-type]
        "sources.zendesk: could not check the segment properties: 503"]
    idle = _Adapter({})
    assert segment_warnings(ReportingSettings(), "zendesk", idle) == []  # type: ignore[arg-type]
    assert idle.asked == []
