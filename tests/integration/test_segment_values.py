"""CRM values as segment text (integration._values) and where each adapter reads them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from closedloop.integration._values import MAX_TEXT, as_text, picked
from closedloop.integration.hubspot._contacts import to_contact as hubspot_contact
from closedloop.integration.hubspot._contacts import with_extra
from closedloop.integration.hubspot._tickets import _ticket as hubspot_ticket
from closedloop.integration.zendesk._tickets import field_values, to_ticket
from closedloop.integration.zendesk._users import to_contact as zendesk_contact


@pytest.mark.parametrize(("value", "expected"), [
    ("oslo", "oslo"),
    ("  oslo sentrum ", "oslo sentrum"),  # stripped
    ("", None), ("   ", None), (None, None),  # no value: the key is left out
    (True, "true"), (False, "false"),  # Zendesk checkbox, as HubSpot's checkbox strings
    (42, "42"), (0, "0"), (-3, "-3"),  # Zendesk integer
    (3.0, "3"), (2.5, "2.5"),  # decimal: plain text, a whole number without ".0"
    (float("nan"), None), (float("inf"), None),  # not a number: no value
    (["b", "a", "b"], "a;b"),  # multi-select: distinct, sorted, HubSpot's ";"
    (["only"], "only"), ([], None), ([None, ""], None),
    ([1, True], "1;true"),  # mixed scalars each as text
    ([["nested"]], None),  # a list of lists is no category
    ({"id": 1}, None),  # an object is no category
    ("x" * MAX_TEXT, "x" * MAX_TEXT), ("x" * (MAX_TEXT + 1), None),  # both sides of the cap
])
def test_as_text(value: object, expected: str | None) -> None:
    """Each kind of CRM value becomes the text reports slice by, or no value (see the
    module doc for why each rule)."""
    assert as_text(value) == expected


def test_picked_leaves_out_what_has_no_value() -> None:
    """Only the names asked for, only those with a value; numbers become text."""
    values = {"region": "north", "store": "", "size": 12, "other": "x"}
    assert picked(values, ["region", "store", "size", "missing"]) == {"region": "north",
                                                                     "size": "12"}


def test_zendesk_ticket_reads_custom_fields_by_id_and_standard_fields_by_name() -> None:
    """A number names a custom field in custom_fields; a name, a standard ticket field;
    unset, unknown and object-valued ones are left out."""
    raw = {"id": 7, "status": "solved", "updated_at": "2026-11-20T10:00:00Z",
           "priority": "high", "type": None, "via": {"channel": "email"}, "brand_id": 2,
           "custom_fields": [{"id": 360001234, "value": "oslo"}, {"id": 11, "value": None},
                             {"id": 12, "value": True}, {"id": 13, "value": ["b", "a"]}]}
    names = ["360001234", "11", "12", "13", "99", "priority", "type", "via", "brand_id"]
    assert field_values(raw, names) == {"360001234": "oslo", "12": "true", "13": "a;b",
                                        "priority": "high", "brand_id": "2"}
    ticket = to_ticket(raw, {}, ["360001234"])
    assert ticket is not None
    assert dict(ticket.properties) == {"360001234": "oslo"}
    plain = to_ticket(raw, {})
    assert plain is not None
    assert dict(plain.properties) == {}


def test_zendesk_user_reads_user_fields_by_key() -> None:
    """Contact properties come from `user_fields`; a user without them gets none."""
    user = {"id": 5, "user_fields": {"region": "north", "plan": None, "seats": 10}}
    assert dict(zendesk_contact(user, ["region", "plan", "seats"]).properties) == {
        "region": "north", "seats": "10"}
    assert dict(zendesk_contact({"id": 6}, ["region"]).properties) == {}
    assert dict(zendesk_contact(user).properties) == {}


def test_hubspot_records_read_the_extra_properties() -> None:
    """HubSpot answers strings; an empty or absent one is left out; the extra names are
    asked for after the adapter's own, once each."""
    row = SimpleNamespace(id=1, properties={"email": "a@x.example", "region": "west",
                                            "store": ""})
    assert dict(hubspot_contact(row, ["region", "store"]).properties) == {"region": "west"}
    result = SimpleNamespace(id=9, properties={"closed_date": "2026-11-20T10:00:00Z",
                                               "store": "paris", "hs_pipeline": "0"})
    ticket = hubspot_ticket(result, ["store", "missing"])
    assert ticket is not None
    assert dict(ticket.properties) == {"store": "paris"}
    assert with_extra(["email", "firstname"], ["region", "email"]) == [
        "email", "firstname", "region"]
