"""Random fault injection in both sandboxes, and the HubSpot note reads that find lost creates.

Over real HTTP: the admin endpoint configures the faults, real clients meet them.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.notes import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectId,
)
from test_hubspot_sandbox_hooks import _note

from closedloop.integration.sandbox._faults import FaultRates
from closedloop.integration.sandbox.hubspot import HubSpotSandbox, HubSpotState
from closedloop.integration.sandbox.zendesk import ZendeskSandbox

NOTES = "/crm/v3/objects/notes/batch/create"


def _create(client: Any, body: str, ticket: str) -> Any:
    return client.crm.objects.notes.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[_note(body, ticket, None)]))


def test_faults_are_configured_read_and_cleared_over_http(sandbox: HubSpotSandbox) -> None:
    """POST sets the rates (GET reads them and the counts), DELETE stops; a bad key is a 400
    naming it, never a 500."""
    url = f"{sandbox.url}/_sandbox/faults"
    bad = requests.post(url, json={"5xx": 0.2, "oops": 1}, timeout=5)
    assert (bad.status_code, bad.json()["detail"].split(";")[0]) == (400, "unknown key 'oops'")
    too_much = requests.post(url, json={"5xx": 0.6, "429": 0.5}, timeout=5)
    assert (too_much.status_code, too_much.json()["detail"]) == (
        400, "the rates add up to 1.1; at most 1")
    ok = requests.post(url, json={"5xx": 1, "seed": 7, "paths": ["/crm/v3/pipelines"]},
                       timeout=5)
    assert (ok.status_code, ok.json()["rates"]["5xx"], ok.json()["rates"]["seed"]) == (
        200, 1.0, 7)
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    statuses = [requests.get(f"{sandbox.url}/crm/v3/pipelines/tickets", headers=headers,
                             timeout=5).status_code for _ in range(3)]
    assert all(s in (500, 502, 503) for s in statuses)
    assert requests.get(url, timeout=5).json()["injected"] == {"5xx": 3}
    assert requests.delete(url, timeout=5).json() == {"rates": None, "injected": {}}
    assert requests.get(f"{sandbox.url}/crm/v3/pipelines/tickets", headers=headers,
                        timeout=5).status_code == 200


def test_the_same_seed_draws_the_same_faults(state: HubSpotState) -> None:
    """Two sandboxes with one seed answer one sequence of calls with the same faults."""
    outcomes = []
    for _ in range(2):
        with HubSpotSandbox(state, search_per_second=0, rate_limit_per_10s=0) as sb:
            sb.set_faults(FaultRates(error_5xx=0.3, rate_429=0.3, seed=11))
            headers = {"Authorization": f"Bearer {sb.token}"}
            outcomes.append([requests.get(f"{sb.url}/crm/v3/pipelines/tickets",
                                          headers=headers, timeout=5).status_code
                             for _ in range(20)])
    assert outcomes[0] == outcomes[1]
    assert {200, 429} <= set(outcomes[0])


@pytest.mark.parametrize("lost_as", ["504", "drop"])
def test_a_lost_answer_still_applies_the_create(client: Any, state: HubSpotState,
                                                sandbox: HubSpotSandbox, lost_as: str) -> None:
    """'lost': the note is created, the client gets a 504 or a closed connection."""
    sandbox.set_faults(FaultRates(lost=1.0, lost_as=lost_as, paths=(NOTES,)))
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the SDK's error or urllib3's
        _create(client, "CSAT 1 [cl-hook-1]", "1001")
    status = getattr(caught.value, "status", None)
    assert status == (504 if lost_as == "504" else None)
    assert [n["body"] for n in state.notes(ticket_id="1001")] == ["CSAT 1 [cl-hook-1]"]


def test_ticket_notes_and_notes_batch_read_find_a_created_note(
        client: Any, state: HubSpotState, spec: Any) -> None:
    """A ticket's notes through associations v4 (typeId 227), their bodies through notes
    batch read; a ticket without notes is a 207 error, as for contacts."""
    created = _create(client, "NPS 2 [cl-hook-9]", "1002")
    note_id = created.results[0].id
    links = client.crm.associations.v4.batch_api.get_page(
        from_object_type="tickets", to_object_type="notes",
        batch_input_public_fetch_associations_batch_request=(
            BatchInputPublicFetchAssociationsBatchRequest(inputs=[
                PublicFetchAssociationsBatchRequest(id="1002"),
                PublicFetchAssociationsBatchRequest(id="1003")])))
    assert [(r._from.id, [str(t.to_object_id) for t in r.to]) for r in links.results] == [
        ("1002", [note_id])]
    assert len(links.errors) == 1
    read = client.crm.objects.notes.batch_api.read(BatchReadInputSimplePublicObjectId(
        properties=["hs_note_body"], inputs=[SimplePublicObjectId(id=note_id)]))
    assert [r.properties["hs_note_body"] for r in read.results] == ["NPS 2 [cl-hook-9]"]
    raw = client.api_request({"method": "POST", "path": "/crm/v3/objects/notes/batch/read",
                              "body": {"properties": ["hs_note_body"],
                                       "inputs": [{"id": note_id}, {"id": "1"}]}})
    assert raw.status_code == 207
    assert spec("crm-notes-v3.json", "/crm/v3/objects/notes/batch/read", "post", "207",
                raw.json()) == []


def test_zendesk_faults_answer_in_zendesks_shape(zd_sandbox: ZendeskSandbox) -> None:
    """A 429 fault carries Retry-After in whole seconds and Zendesk's error body."""
    zd_sandbox.set_faults(FaultRates(rate_429=1.0, retry_after=2.5))
    answer = requests.get(f"{zd_sandbox.url}/api/v2/users/me.json", timeout=5,
                          auth=(f"{zd_sandbox.email}/token", zd_sandbox.token))
    assert (answer.status_code, answer.headers["Retry-After"],
            answer.json()["error"]) == (429, "2", "APIRateLimitExceeded")
    zd_sandbox.set_faults(None)
    assert requests.get(f"{zd_sandbox.url}/_sandbox/faults", timeout=5).json() == {
        "rates": None, "injected": {}}
