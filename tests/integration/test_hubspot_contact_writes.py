"""Contact writes after a lost answer: the retry re-sends only what did not land.

The sandbox applies the contacts batch update and then loses the answer (504 or a cut
connection); the retry reads the contacts back and writes nothing twice.
"""

from __future__ import annotations

import pytest

from closedloop.integration.base import ContactUpdate
from closedloop.integration.hubspot import HubSpotAdapter
from closedloop.integration.hubspot._contact_writes import same_value
from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState

UPDATE = "/crm/v3/objects/contacts/batch/update"


@pytest.mark.parametrize("lost_as", ["504", "drop"])
def test_a_batch_update_whose_answer_was_lost_is_not_applied_again(
        with_properties: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox,
        lost_as: str) -> None:
    """150 contacts (two batches), every update applied then its answer lost: each contact
    is written exactly once (before: once per attempt), and all are reported written."""
    ids = [state.create_contact(f"w{i}@example.com", "W", str(i)) for i in range(150)]
    state.contact_writes.clear()
    updates = [ContactUpdate(cid, {"cl_nps_last_rating": str(i % 11),
                                   "cl_nps_last_answered_at": "2026-11-20T09:00:00+00:00"})
               for i, cid in enumerate(ids)]
    sandbox.set_faults(FaultRates(lost=1.0, lost_as=lost_as, paths=(UPDATE,)))
    result = with_properties.write_contacts(updates)
    assert sorted(result.written) == sorted(ids)
    assert sorted(cid for cid, _ in state.contact_writes) == sorted(ids)
    calls = with_properties.calls_by_endpoint()
    assert (calls["contacts_update"], calls["contacts_read"]) == (2, 2)


def test_a_contact_whose_values_did_not_land_is_written_on_the_retry(
        with_properties: HubSpotAdapter, state: HubSpotState, sandbox: HubSpotSandbox) -> None:
    """A plain 503 (nothing applied): the read-back finds nothing, the retry writes it."""
    cid = state.create_contact("x@example.com", "X", "Y")
    sandbox.fail_next(1, 503, path_prefix=UPDATE)
    result = with_properties.write_contacts([ContactUpdate(cid, {"cl_nps_last_rating": "7"})])
    assert result.written == [cid]
    assert state.contact(cid)["properties"]["cl_nps_last_rating"] == "7"
    assert with_properties.calls_by_endpoint()["contacts_update"] == 2


@pytest.mark.parametrize(("written", "stored", "same"), [
    ("7", "7", True), ("7", "7.0", True), ("7", "8", False),
    ("2026-11-20T09:00:00+00:00", "2026-11-20T09:00:00.000Z", True),
    ("2026-11-20T09:00:00+00:00", "2026-11-20T09:00:00.001Z", False),
    ("", None, True), ("", "x", False), ("slow refund", "slow refund", True),
    ("slow refund", "Slow refund", False),
])
def test_values_compare_as_hubspot_stores_them(written: str, stored: str | None,
                                               same: bool) -> None:
    """Both sides of each normalization: numbers, datetimes, blanks, text."""
    assert same_value(written, stored) is same
